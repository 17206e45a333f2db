"""Key mapping from official MPViT checkpoints (youngwanLEE/MPViT) to :class:`MPViT`.

The official model keeps one ``MHCAEncoder`` per path; mmdense stacks the ``P`` encoders of a
stage along a leading path dim. The official state dict also lists the conv position encodings
of an encoder several times (they are shared by all its layers, so ``mhca_blks.j.cpe``,
``mhca_blks.j.MHCA_layers.l.cpe``, ``mhca_blks.j.crpe``, ``...MHCA_layers.l.crpe`` and
``...MHCA_layers.l.factoratt_crpe.crpe`` are one tensor); the aliases must agree and are dropped.
"""
import re
from collections import OrderedDict, defaultdict
from collections.abc import Mapping

import torch
from torch import Tensor

from mmdense.utils.checkpoint import find_state_dict

_ENC = r'mhca_stages\.(\d+)\.mhca_blks\.(\d+)\.'
_LAYER = _ENC + r'MHCA_layers\.(\d+)\.'
_LAYER_MAP = {
    'factoratt_crpe.qkv': 'attn.qkv',
    'factoratt_crpe.proj': 'attn.proj',
    'mlp.fc1': 'fc1',
    'mlp.fc2': 'fc2',
    'norm1': 'norm1',
    'norm2': 'norm2',
}
_PLAIN = [
    (re.compile(r'^(stem\.\d+\.(conv|bn)\..+)$'), r'\1'),
    (re.compile(r'^patch_embed_stages\.(\d+)\.patch_embeds\.(\d+)\.patch_conv\.(.+)$'),
     r'patch_embed_stages.\1.patch_embeds.\2.\3'),
    (re.compile(r'^mhca_stages\.(\d+)\.InvRes\.(.+)$'), r'mhca_stages.\1.inv_res.\2'),
    (re.compile(r'^(mhca_stages\.\d+\.aggregate\.(conv|bn)\..+)$'), r'\1'),
]
_CPE = re.compile('^' + _ENC + r'(?:MHCA_layers\.\d+\.)?cpe\.proj\.(weight|bias)$')
_CRPE = re.compile(
    '^' + _ENC + r'(?:MHCA_layers\.\d+\.(?:factoratt_crpe\.)?)?crpe\.conv_list\.(\d+)\.'
    r'(weight|bias)$')
_LAYER_PARAM = re.compile(
    '^' + _LAYER + '(' + '|'.join(re.escape(k) for k in _LAYER_MAP) + r')\.(weight|bias)$')


def unwrap_state_dict(checkpoint: Mapping, source: str = 'MPViT checkpoint') -> dict[str, Tensor]:
    """The weights of a checkpoint: under ``model`` or ``state_dict``, or the dict itself.

    A ``module.`` prefix (DDP) is removed. If the weights are those of a whole segmentor
    (``backbone.*`` keys), only the backbone part is kept.

    Raises:
        CheckpointError: no dict of tensors is found (a ``ValueError``).
    """
    state_dict = find_state_dict(checkpoint, source, keys=('model', 'state_dict'))
    if not any(k.startswith('stem.') for k in state_dict) and any(
            k.startswith('backbone.stem.') for k in state_dict):
        state_dict = {k[len('backbone.'):]: v for k, v in state_dict.items()
                      if k.startswith('backbone.')}
    return state_dict


def convert_mpvit_state_dict(checkpoint: Mapping,
                             source: str = 'MPViT checkpoint') -> tuple[OrderedDict, list[str]]:
    """Convert an official MPViT checkpoint into an mmdense ``MPViT`` state dict.

    Args:
        checkpoint (Mapping): Official checkpoint: a dict with the weights under ``model`` or
            ``state_dict``, or a bare state dict.
        source (str): Name used in errors about the layout (the file path).

    Returns:
        tuple[OrderedDict, list[str]]: The converted state dict and the official keys that were
        dropped because they are not backbone weights (the classification head and any
        other key). Alias keys of shared tensors are consumed, not reported as dropped.

    Raises:
        ValueError: If no MPViT backbone key is found, if aliases of a shared tensor disagree,
            or if the paths of a stacked parameter are incomplete or of unequal shapes.
    """
    state_dict = unwrap_state_dict(checkpoint, source)
    out: dict[str, Tensor] = {}
    # target key -> {path index: tensor}
    stacked: dict[str, dict[int, Tensor]] = defaultdict(dict)
    # shared (cpe/crpe) target -> (source key of the first copy, tensor)
    shared: dict[tuple[str, int], tuple[str, Tensor]] = {}
    dropped = []

    def _add_shared(target: str, path: int, key: str, value: Tensor) -> None:
        first = shared.get((target, path))
        if first is None:
            shared[(target, path)] = (key, value)
            stacked[target][path] = value
        elif not (first[1].shape == value.shape and torch.equal(first[1], value)):
            raise ValueError(
                f'MPViT checkpoint: {key!r} should be an alias of the shared tensor '
                f'{first[0]!r} but holds different values')

    for key, value in state_dict.items():
        for pattern, repl in _PLAIN:
            if pattern.match(key):
                out[pattern.sub(repl, key)] = value
                break
        else:
            if m := _CPE.match(key):
                stage, path, kind = m.groups()
                _add_shared(f'mhca_stages.{stage}.encoders.cpe.{kind}', int(path), key, value)
            elif m := _CRPE.match(key):
                stage, path, idx, kind = m.groups()
                name = 'conv_weights' if kind == 'weight' else 'conv_biases'
                _add_shared(f'mhca_stages.{stage}.encoders.crpe.{name}.{idx}', int(path), key,
                            value)
            elif m := _LAYER_PARAM.match(key):
                stage, path, layer, module, kind = m.groups()
                target = (f'mhca_stages.{stage}.encoders.layers.{layer}.'
                          f'{_LAYER_MAP[module]}.{kind}')
                stacked[target][int(path)] = value
            else:
                dropped.append(key)

    if not out and not stacked:
        raise ValueError('MPViT checkpoint: no MPViT backbone key found (expected keys such as '
                         "'stem.0.conv.weight' or 'mhca_stages.0.mhca_blks.0...')")
    for target, paths in stacked.items():
        if sorted(paths) != list(range(len(paths))):
            raise ValueError(f'MPViT checkpoint: paths {sorted(paths)} of {target!r} are not '
                             f'0..{len(paths) - 1}')
        tensors = [paths[p] for p in range(len(paths))]
        if len({t.shape for t in tensors}) != 1:
            raise ValueError(f'MPViT checkpoint: the paths of {target!r} have different shapes')
        out[target] = torch.stack(tensors)
    return OrderedDict(sorted(out.items(), key=lambda kv: _natural_key(kv[0]))), dropped


def _natural_key(key: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', key)]
