"""Key mapping from the official DAT++ checkpoints to :class:`DATPlusPlus`.

Two official layouts exist:

- ImageNet-1k weights of LeapLabTHU/DAT (``dat_pp_{tiny,small,base}_in1k_224.pth``, what the
  official segmentation configs load as ``pretrained``): the backbone keys under ``model``,
  plus the classifier (``cls_norm``, ``cls_head``), without the output norms ``norms.*``;
- segmentation releases of LeapLabTHU/DAT-Segmentation (mmseg 0.x): the whole segmentor under
  ``state_dict``, backbone keys prefixed ``backbone.``, next to ``decode_head.*``,
  ``auxiliary_head.*`` and ``neck.*``, whose names mmseg 1.x kept.

Used by ``tools/model_converters/dat2mmdense.py``.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping

import torch

from .dat_checkpoint import convert_keys, rename_by_rules

# The classifier of the ImageNet model is not part of the backbone.
DROPPED_PATTERNS = (r'cls_norm\..*', r'cls_head\..*')
# Segmentor parts kept as they are (mmseg 0.x and 1.x name them alike).
HEAD_PREFIXES = ('decode_head.', 'auxiliary_head.', 'neck.')

_STAGE = r'stages\.(\d+)\.'
_ATTN = _STAGE + r'attns\.(\d+)\.'
_BLOCK = r'stages.\1.blocks.\2.'
# (official pattern, mmdense replacement); checked in order, first match wins.
_RULES = (
    (r'patch_proj\.0\.(weight|bias)', r'patch_embed.conv1.\1'),
    (r'patch_proj\.1\.norm\.(weight|bias)', r'patch_embed.norm1.\1'),
    (r'patch_proj\.3\.(weight|bias)', r'patch_embed.conv2.\1'),
    (r'patch_proj\.4\.norm\.(weight|bias)', r'patch_embed.norm2.\1'),
    (r'down_projs\.(\d+)\.0\.weight', r'downsamples.\1.conv.weight'),
    (r'down_projs\.(\d+)\.1\.norm\.(weight|bias)', r'downsamples.\1.norm.\2'),
    (r'norms\.(\d+)\.norm\.(weight|bias)', r'norm\1.\2'),
    (_STAGE + r'local_perception_units\.(\d+)\.(weight|bias)', _BLOCK + r'lpu.\3'),
    (_STAGE + r'mlps\.(\d+)\.linear1\.0\.(weight|bias)', _BLOCK + r'ffn.fc1.\3'),
    (_STAGE + r'mlps\.(\d+)\.linear2\.0\.(weight|bias)', _BLOCK + r'ffn.fc2.\3'),
    (_STAGE + r'mlps\.(\d+)\.dwc\.(weight|bias)', _BLOCK + r'ffn.dwconv.\3'),
    (_ATTN + r'rpb', _BLOCK + r'attn.rpb'),
    (_ATTN + r'qkv\.(weight|bias)', _BLOCK + r'attn.qkv.\3'),
    (_ATTN + r'proj\.(weight|bias)', _BLOCK + r'attn.proj.\3'),
    (_ATTN + r'proj_out\.(weight|bias)', _BLOCK + r'attn.proj.\3'),
    (_ATTN + r'proj_(q|k|v)\.(weight|bias)', _BLOCK + r'attn.proj_\3.\4'),
    (_ATTN + r'rpe_table', _BLOCK + r'attn.rpe_table'),
    (_ATTN + r'conv_offset\.0\.(weight|bias)', _BLOCK + r'attn.offset_dwconv.\3'),
    (_ATTN + r'conv_offset\.1\.norm\.(weight|bias)', _BLOCK + r'attn.offset_norm.\3'),
    (_ATTN + r'conv_offset\.3\.weight', _BLOCK + r'attn.offset_proj.weight'),
)
# Official 1x1 convolutions that are linear layers in DATPlusPlus.
_POINTWISE = ('ffn.fc1.weight', 'ffn.fc2.weight', 'attn.proj_q.weight', 'attn.proj_k.weight',
              'attn.proj_v.weight', 'attn.proj.weight', 'attn.offset_proj.weight')
_LAYER_NORM = re.compile(_STAGE + r'layer_norms\.(\d+)\.norm\.(weight|bias)')
_LAYER_SCALE = re.compile(_STAGE + r'layer_scales\.(\d+)\.gamma')
# Keys that only DAT++ has (v1 has none of them), to tell the two layouts apart.
_DATPP_MARKERS = ('local_perception_units.', 'patch_proj.3.', '.rpb')


def is_datpp_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` is an official DAT++ (rather than DAT v1) checkpoint."""
    return any(marker in key for key in state_dict for marker in _DATPP_MARKERS)


def _rename(key: str) -> str | None:
    """mmdense name of an official backbone key; None for a dropped key."""
    if any(re.fullmatch(p, key) for p in DROPPED_PATTERNS):
        return None
    for regex, suffix in ((_LAYER_NORM, 'norm'), (_LAYER_SCALE, 'gamma')):
        match = regex.fullmatch(key)
        if match:
            stage, index = match.group(1), int(match.group(2))
            # The official stage keeps 2 * depth of them: 2d for the attention, 2d+1 the FFN.
            block, second = divmod(index, 2)
            tail = f'.{match.group(3)}' if suffix == 'norm' else ''
            return f'stages.{stage}.blocks.{block}.{suffix}{second + 1}{tail}'
    return rename_by_rules(key, _RULES)


def convert_datpp_state_dict(state_dict: Mapping[str, torch.Tensor]) -> OrderedDict:
    """Convert an official DAT++ state dict to the :class:`DATPlusPlus` layout.

    Renames the keys, turns the official 1x1 convolutions into linear weights
    (``(C_out, C_in, 1, 1)`` -> ``(C_out, C_in)``) and drops the ImageNet classifier. A
    ``module.`` prefix is removed. A segmentor state dict (keys under ``backbone.``) is
    converted as a whole: the backbone keys keep their ``backbone.`` prefix and the head and
    neck keys are copied unchanged, so the result loads into the mmdense segmentor.

    Args:
        state_dict (Mapping[str, Tensor]): ``checkpoint['model']`` (ImageNet) or
            ``checkpoint['state_dict']`` (segmentation release).

    Returns:
        OrderedDict: The converted weights.

    Raises:
        ValueError: If a key is not part of the official DAT++ layout.
    """
    return convert_keys(state_dict, _rename, _POINTWISE,
                        'DAT++ layout (LeapLabTHU/DAT-Segmentation mmseg/models/backbones/dat.py)',
                        keep_prefixes=HEAD_PREFIXES, nested_prefix='backbone.')
