"""Key mapping from official HRFormer (HRT) checkpoints to mmdense's ``OfficialHRFormer``
(MMPose's ``HRFormer`` layout).

The official ``HRT`` (HRNet/HRFormer, pose/ and seg/) and MMPose's ``HRFormer`` hold the same
tensors under different names:

==========================================  ===============================================
official                                     mmdense / MMPose
==========================================  ===============================================
``<block>.attn.attn.{q,k,v}_proj.{w,b}``     ``<block>.attn.attn.qkv.{w,b}`` (q, k, v stacked)
``<block>.attn.attn.out_proj.*``             ``<block>.attn.attn.proj.*``
``<block>.mlp.*``                            ``<block>.ffn.*``
``<block>.attn.attn.relative_position_index`` checked against the window size, kept
everything else                              unchanged
==========================================  ===============================================

where ``<block>`` is ``stage{2,3,4}.<module>.branches.<branch>.<block>``. Full top-down pose
checkpoints (keys under ``backbone.`` and ``keypoint_head.``) are also accepted: the head of
``TopDownSimpleHead`` becomes ``head.`` of MMPose's ``HeatmapHead``.
"""
import re
from collections import OrderedDict
from collections.abc import Mapping

import torch

from mmdense.utils.checkpoint import find_state_dict

_BLOCK = r'stage[234]\.\d+\.branches\.\d+\.\d+'
_PROJ_RE = re.compile(rf'^({_BLOCK})\.attn\.attn\.([qkv])_proj\.(weight|bias)$')
_OUT_PROJ_RE = re.compile(rf'^({_BLOCK})\.attn\.attn\.out_proj\.(weight|bias)$')
_MLP_RE = re.compile(rf'^({_BLOCK})\.mlp\.(.+)$')
_INDEX_RE = re.compile(rf'^{_BLOCK}\.attn\.attn\.relative_position_index$')
_KEEP_RE = re.compile(r'^(conv[12]|bn[12]|layer1|transition[123]|'
                      rf'{_BLOCK}\.(norm[12]|attn\.attn\.relative_position_bias_table)|'
                      r'stage[234]\.\d+\.fuse_layers)(\.|$)')


def relative_position_index(window_size: int) -> torch.Tensor:
    """The (Wh*Ww, Wh*Ww) index into the bias table of a square window, as in Swin/HRT."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing='ij'))
    coords = coords.flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window_size - 1)
    return rel[..., 0] * (2 * window_size - 1) + rel[..., 1]


def official_state_dict_from_checkpoint(checkpoint: Mapping, name: str = 'checkpoint') -> dict:
    """Return the weights of an official checkpoint: ``state_dict`` or a bare state dict.

    A ``module.`` prefix (from ``DistributedDataParallel``) is removed.

    Raises:
        CheckpointError: no state dict of tensors (a ``ValueError``).
    """
    return find_state_dict(checkpoint, name, keys=('state_dict', ))


def _convert_backbone(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = OrderedDict()
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, value in state_dict.items():
        if _INDEX_RE.match(key):
            window = int(round(value.shape[0]**0.5)) if value.dim() == 2 else 0
            if (window * window != value.shape[0] or value.shape[0] != value.shape[-1]
                    or not torch.equal(value.long(), relative_position_index(window))):
                raise ValueError(f'{key} is not the relative position index of a square '
                                 'window')
            out[key] = relative_position_index(window)
            continue
        m = _PROJ_RE.match(key)
        if m:
            block, which, kind = m.groups()
            group = qkv.setdefault(f'{block}.attn.attn.qkv.{kind}', {})
            group[which] = value
            if len(group) == 3:
                out[f'{block}.attn.attn.qkv.{kind}'] = torch.cat(
                    [group['q'], group['k'], group['v']], dim=0)
            continue
        m = _OUT_PROJ_RE.match(key)
        if m:
            out[f'{m.group(1)}.attn.attn.proj.{m.group(2)}'] = value
            continue
        m = _MLP_RE.match(key)
        if m:
            out[f'{m.group(1)}.ffn.{m.group(2)}'] = value
            continue
        if _KEEP_RE.match(key):
            out[key] = value
            continue
        unknown.append(key)
    incomplete = sorted(k for k, group in qkv.items() if len(group) != 3)
    if incomplete:
        raise ValueError('q/k/v projections incomplete for: ' + ', '.join(incomplete[:5]))
    if unknown:
        raise ValueError(f'{len(unknown)} keys are not HRFormer (HRT) backbone keys: ' +
                         ', '.join(unknown[:8]))
    return out


def convert_hrformer_state_dict(
        state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official HRT state dict to the ``OfficialHRFormer``/MMPose ``HRFormer`` layout.

    Args:
        state_dict (Mapping[str, Tensor]): Official weights: backbone keys (``conv1.weight``,
            ``stage2.0.branches.0.0.attn.attn.k_proj.weight``...) or a top-down pose model
            (``backbone.*`` and ``keypoint_head.*``).

    Returns:
        dict[str, Tensor]: Converted weights, with the same ``backbone.``/``head.`` split.

    Raises:
        ValueError: On keys that belong to neither the backbone nor the pose head, or on
            incomplete q/k/v projections.
    """
    if any(k.startswith('backbone.') for k in state_dict):
        backbone = OrderedDict(
            (k[len('backbone.'):], v) for k, v in state_dict.items() if k.startswith('backbone.'))
        out = OrderedDict(('backbone.' + k, v) for k, v in _convert_backbone(backbone).items())
        others = [k for k in state_dict if not k.startswith('backbone.')]
        unknown = [k for k in others if not k.startswith('keypoint_head.final_layer.')]
        if unknown:
            raise ValueError(f'{len(unknown)} keys are neither backbone nor pose-head keys: ' +
                             ', '.join(unknown[:8]))
        for key in others:
            out['head.' + key[len('keypoint_head.'):]] = state_dict[key]
        return out
    return _convert_backbone(state_dict)
