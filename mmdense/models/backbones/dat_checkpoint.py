"""Key mapping from the official DAT v1 checkpoints (LeapLabTHU/DAT) to :class:`DAT`.

Used by ``tools/model_converters/dat2mmdense.py``; kept in the package so that tests and
scripts can call it without the command line.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import torch

from mmdense.utils.checkpoint import find_state_dict

# Official buffers that depend only on the window size and the 224x224 training input. DAT
# rebuilds them (the index at construction, the shift masks for every input size), so they are
# dropped. The classifier is not part of the backbone.
DROPPED_PATTERNS = (
    r'stages\.\d+\.attns\.\d+\.relative_position_index',
    r'stages\.\d+\.attns\.\d+\.attn_mask',
    r'cls_norm\..*',
    r'cls_head\..*',
)

# (official pattern, mmdense replacement); checked in order, first match wins. `{block}` and
# `{norm}` are filled in by `_rename` for the per-block LayerNorms.
_ATTN = r'stages\.(\d+)\.attns\.(\d+)\.'
_RULES = (
    (r'patch_proj\.0\.(weight|bias)', r'patch_embed.projection.\1'),
    (r'patch_proj\.1\.norm\.(weight|bias)', r'patch_embed.norm.\1'),
    (r'down_projs\.(\d+)\.0\.weight', r'downsamples.\1.projection.weight'),
    (r'down_projs\.(\d+)\.1\.norm\.(weight|bias)', r'downsamples.\1.norm.\2'),
    (r'stages\.(\d+)\.mlps\.(\d+)\.chunk\.linear1\.(weight|bias)',
     r'stages.\1.blocks.\2.ffn.layers.0.0.\3'),
    (r'stages\.(\d+)\.mlps\.(\d+)\.chunk\.linear2\.(weight|bias)',
     r'stages.\1.blocks.\2.ffn.layers.1.\3'),
    (_ATTN + r'relative_position_bias_table',
     r'stages.\1.blocks.\2.attn.relative_position_bias_table'),
    (_ATTN + r'proj_qkv\.(weight|bias)', r'stages.\1.blocks.\2.attn.qkv.\3'),
    (_ATTN + r'proj_out\.(weight|bias)', r'stages.\1.blocks.\2.attn.proj.\3'),
    (_ATTN + r'proj_(q|k|v)\.(weight|bias)', r'stages.\1.blocks.\2.attn.proj_\3.\4'),
    (_ATTN + r'rpe_table', r'stages.\1.blocks.\2.attn.rpe_table'),
    (_ATTN + r'conv_offset\.0\.(weight|bias)', r'stages.\1.blocks.\2.attn.offset_dwconv.\3'),
    (_ATTN + r'conv_offset\.1\.norm\.(weight|bias)', r'stages.\1.blocks.\2.attn.offset_norm.\3'),
    (_ATTN + r'conv_offset\.3\.weight', r'stages.\1.blocks.\2.attn.offset_proj.weight'),
)
# Official 1x1 convolutions that are linear layers in DAT.
_POINTWISE = ('attn.proj_q.weight', 'attn.proj_k.weight', 'attn.proj_v.weight',
              'attn.proj.weight', 'attn.offset_proj.weight')
_LAYER_NORM = re.compile(r'stages\.(\d+)\.layer_norms\.(\d+)\.norm\.(weight|bias)')


def _rename(key: str) -> str | None:
    """mmdense name of an official key; None for a key that is dropped."""
    if any(re.fullmatch(p, key) for p in DROPPED_PATTERNS):
        return None
    match = _LAYER_NORM.fullmatch(key)
    if match:
        stage, index, param = match.groups()
        # The official stage keeps 2 * depth norms: 2d before the attention, 2d+1 before the FFN.
        block, second = divmod(int(index), 2)
        return f'stages.{stage}.blocks.{block}.norm{second + 1}.{param}'
    return rename_by_rules(key, _RULES)


def rename_by_rules(key: str, rules: Sequence[tuple[str, str]]) -> str:
    """Rename ``key`` with the first ``(pattern, replacement)`` of ``rules`` it fully matches.

    Raises:
        KeyError: If no rule matches.
    """
    for pattern, replacement in rules:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, replacement, key)
    raise KeyError(key)


def convert_keys(state_dict: Mapping[str, torch.Tensor],
                 rename: Callable[[str], str | None],
                 pointwise: tuple[str, ...],
                 layout: str,
                 keep_prefixes: tuple[str, ...] = (),
                 nested_prefix: str | None = None) -> OrderedDict:
    """The conversion loop of the DAT v1 and DAT++ converters.

    Removes a ``module.`` prefix, copies the keys under ``keep_prefixes`` unchanged, renames
    the others with ``rename`` (None drops a key, ``KeyError`` marks it unknown) keeping a
    ``nested_prefix`` in front, and flattens the 1x1 conv weights whose new name ends with one
    of ``pointwise`` to linear weights.

    Args:
        state_dict (Mapping[str, Tensor]): The official weights.
        rename (Callable): Official key (without prefixes) -> mmdense key or None.
        pointwise (tuple[str]): Name endings of the official 1x1 convs.
        layout (str): The official layout, named in the error message.
        keep_prefixes (tuple[str]): Prefixes of keys copied unchanged.
        nested_prefix (str, optional): Prefix kept in front of the renamed key.

    Returns:
        OrderedDict: The converted weights.

    Raises:
        ValueError: If keys are not part of ``layout``.
    """
    converted = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if keep_prefixes and key.startswith(keep_prefixes):
            converted[key] = value
            continue
        prefix = ''
        if nested_prefix and key.startswith(nested_prefix):
            prefix, key = nested_prefix, key[len(nested_prefix):]
        try:
            new_key = rename(key)
        except KeyError:
            unknown.append(prefix + key)
            continue
        if new_key is None:
            continue
        if value.dim() == 4 and new_key.endswith(pointwise):
            value = value.flatten(1)
        converted[prefix + new_key] = value
    if unknown:
        shown = ', '.join(unknown[:10]) + (' ...' if len(unknown) > 10 else '')
        raise ValueError(f'{len(unknown)} keys are not part of the official {layout}: {shown}')
    return converted


def convert_dat_state_dict(state_dict: Mapping[str, torch.Tensor]) -> OrderedDict:
    """Convert an official DAT v1 state dict to the :class:`DAT` layout.

    Renames the keys, turns the 1x1 convolutions of the deformable attention into linear
    weights (``(C_out, C_in, 1, 1)`` -> ``(C_out, C_in)``), and drops the classifier and the
    buffers DAT regenerates (``relative_position_index`` and the 224x224 ``attn_mask``).
    A ``module.`` prefix (DistributedDataParallel) is removed.

    Args:
        state_dict (Mapping[str, Tensor]): The official weights (``checkpoint['model']``).

    Returns:
        OrderedDict: Weights for ``DAT(arch=..., pretrain_img_size=224)``.

    Raises:
        ValueError: If a key is not part of the official DAT v1 layout.
    """
    return convert_keys(state_dict, _rename, _POINTWISE,
                        'DAT v1 layout (LeapLabTHU/DAT models/dat.py)')


def official_state_dict_from_checkpoint(checkpoint: Mapping, source: str = 'checkpoint') -> Mapping:
    """The weights of an official checkpoint: under ``model``, ``state_dict``, or bare.

    Args:
        checkpoint (Mapping): What ``load_checkpoint_file`` returned.
        source (str): Name used in error messages (the file path).

    Returns:
        Mapping[str, Tensor]: The weights.

    Raises:
        CheckpointError: If no weights are found (a ``ValueError``).
    """
    return find_state_dict(checkpoint, source, keys=('model', 'state_dict'), strip_prefix=None)
