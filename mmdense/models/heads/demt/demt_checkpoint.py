"""Conversion of official DeMT checkpoints to mmdense's ``MultiTaskEncoderDecoder``.

The official release (yangyangxu0/DeMT) stores PyTorch-Lightning checkpoints of
``MultiTaskModel``: the weights are under ``state_dict`` with a ``backbone.`` and a ``head.``
prefix, beside Lightning's own entries (``epoch``, ``optimizer_states``, ...).

* Backbones: DeMT's HRNet18-S (``hrnetv2p_w18_s``) and Swin-T/S/B are copies of mmseg's; their
  keys are the same as mmseg's ``HRNet`` / ``SwinTransformer`` and are kept as they are (each key
  is still checked against the backbone's layout).
* Head: ``DemtHead`` keys (``head.*``) become :class:`~mmdense.models.heads.DeMTHead`'s, under
  ``decode_head.*`` (mmseg's name of a segmentor's head). Per-task module lists indexed by task
  position become dicts keyed by task name; the order of the tasks is read from the checkpoint
  (``final_logits.<task>`` keys) unless given. The unused ``offset`` buffers of the deformable
  convs are dropped.

Use :func:`convert_demt_state_dict` from code and ``tools/model_converters/demt2mmdense.py``
from the command line.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from torch import Tensor

from mmdense.utils.checkpoint import CheckpointError, find_state_dict

# Lightning module attributes that hold no model weights (loss buffers, metric states).
_NON_MODEL_PREFIXES = ('criterion.', 'metrics_dict.')

_HRNET_KEY = re.compile(
    r'^(conv1\.|conv2\.|bn1\.|bn2\.|layer1\.|transition\d+\.|'
    r'stage\d+\.\d+\.(branches|fuse_layers)\.)')
_SWIN_KEY = re.compile(
    r'^(patch_embed\.(projection|norm)\.|absolute_pos_embed$|norm\d+\.|stages\.\d+\.('
    r'downsample\.(norm|reduction)\.|blocks\.\d+\.(norm1\.|norm2\.|ffn\.layers\.(0\.0|1)\.|'
    r'attn\.w_msa\.(relative_position_bias_table$|relative_position_index$|qkv\.|proj\.))))')

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_LIN = r'(weight|bias)'
_MHA = r'(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)'

# (official pattern, mmdense template); {task} is filled from the task index or name.
_HEAD_RULES: list[tuple[re.Pattern, str]] = [(re.compile(p), t) for p, t in [
    (rf'^linear1\.0\.{_LIN}$', 'input_proj.{0}'),
    (rf'^linear1\.1\.{_LIN}$', 'input_norm.{0}'),
    (rf'^defor_mixers\.(\d+)\.blocks\.(\d+)\.0\.{_LIN}$',
     'mixers.{task}.layers.{1}.channel_conv.{2}'),
    (rf'^defor_mixers\.(\d+)\.blocks\.(\d+)\.2\.{_BN}$',
     'mixers.{task}.layers.{1}.channel_norm.{2}'),
    (rf'^defor_mixers\.(\d+)\.blocks\.(\d+)\.3\.fn\.0\.{_LIN}$',
     'mixers.{task}.layers.{1}.spatial_conv.{2}'),
    (rf'^defor_mixers\.(\d+)\.blocks\.(\d+)\.3\.fn\.0\.get_offset\.p_conv\.{_LIN}$',
     'mixers.{task}.layers.{1}.spatial_conv.offset_conv.{2}'),
    (rf'^defor_mixers\.(\d+)\.blocks\.(\d+)\.3\.fn\.0\.get_offset\.opt\.{_LIN}$',
     'mixers.{task}.layers.{1}.spatial_conv.offset_proj.{2}'),
    (r'^defor_mixers\.(\d+)\.blocks\.(\d+)\.3\.fn\.0\.offset$', ''),  # unused buffer: dropped
    (rf'^defor_mixers\.(\d+)\.blocks\.(\d+)\.3\.fn\.2\.{_BN}$',
     'mixers.{task}.layers.{1}.spatial_norm.{2}'),
    (rf'^task_fusion\.{_MHA}$', 'task_interaction.attn.{0}'),
    (rf'^smlp\.0\.{_LIN}$', 'task_interaction.proj.{0}'),
    (rf'^smlp\.1\.{_LIN}$', 'task_interaction.norm.{0}'),
    (rf'^task_querys\.(\d+)\.{_MHA}$', 'task_queries.{task}.attn.{1}'),
    (rf'^smlp2\.(\d+)\.0\.{_LIN}$', 'task_queries.{task}.proj.{1}'),
    (rf'^smlp2\.(\d+)\.1\.{_LIN}$', 'task_queries.{task}.norm.{1}'),
    (r'^bottleneck\.(\w+)\.conv\.weight$', 'task_convs.{name}.conv.weight'),
    (rf'^bottleneck\.(\w+)\.bn\.{_BN}$', 'task_convs.{name}.bn.{1}'),
    (rf'^final_logits\.(\w+)\.{_LIN}$', 'conv_logits.{name}.{1}'),
]]


class DeMTConversionError(ValueError):
    """The checkpoint does not have the layout of an official DeMT checkpoint."""


def extract_demt_state_dict(checkpoint: Mapping,
                            source: str = 'checkpoint') -> Mapping[str, Tensor]:
    """The weights of a loaded DeMT checkpoint (Lightning ``state_dict`` or a bare dict)."""
    if isinstance(checkpoint, Mapping) and (
            isinstance(checkpoint.get('state_dict'), Mapping)
            or any(str(k).startswith(('backbone.', 'head.')) for k in checkpoint)):
        try:
            return find_state_dict(checkpoint, source, keys=('state_dict', ), strip_prefix=None)
        except CheckpointError as err:
            raise DeMTConversionError(str(err)) from err
    keys = sorted(checkpoint)[:10] if isinstance(checkpoint, Mapping) else type(checkpoint)
    raise DeMTConversionError(
        f'{source}: not a DeMT checkpoint: no `state_dict` entry and no `backbone.`/`head.` '
        f'keys (top-level keys: {keys}).')


def detect_backbone(backbone_keys: Sequence[str]) -> str:
    """``'HRNet'`` or ``'SwinTransformer'`` from the (prefix-free) backbone keys."""
    if any(k.startswith('patch_embed.') for k in backbone_keys):
        return 'SwinTransformer'
    if any(k.startswith(('transition1.', 'stage2.')) for k in backbone_keys):
        return 'HRNet'
    raise DeMTConversionError(
        'cannot tell the backbone: expected HRNet (`transition1.*`) or Swin '
        f'(`patch_embed.*`) keys, got e.g. {list(backbone_keys)[:5]}.')


def _tasks_from_head(head_keys: Sequence[str]) -> list[str]:
    tasks = []
    for key in head_keys:
        m = re.match(r'^final_logits\.(\w+)\.weight$', key)
        if m and m.group(1) not in tasks:
            tasks.append(m.group(1))
    if not tasks:
        raise DeMTConversionError('no `head.final_logits.<task>.weight` key: cannot read the '
                                  'task names (is this a DemtHead checkpoint?).')
    return tasks


def convert_demt_head(head_sd: Mapping[str, Tensor], tasks: Sequence[str],
                      channels: int | None = None) -> OrderedDict:
    """Rename ``DemtHead`` weights (without the ``head.`` prefix) to ``DeMTHead`` ones.

    Args:
        head_sd: official head weights.
        tasks: task names in the official order (the position of each task in the
            per-task module lists).
        channels: expected token channels, to check the dropped ``offset`` buffers.

    Returns:
        OrderedDict: mmdense head weights.

    Raises:
        DeMTConversionError: a key matches no rule or names an unknown task.
    """
    out = OrderedDict()
    unknown = []
    for key, value in head_sd.items():
        for pattern, template in _HEAD_RULES:
            m = pattern.match(key)
            if m is None:
                continue
            groups = m.groups()
            if template == '':  # the unused `offset` buffer, (1, 2C, 1, 1)
                if value.dim() != 4 or (channels is not None and value.shape[1] != 2 * channels):
                    raise DeMTConversionError(f'unexpected shape {tuple(value.shape)} of {key}.')
                break
            fields = {}
            if '{task}' in template:
                index = int(groups[0])
                if index >= len(tasks):
                    raise DeMTConversionError(f'{key}: task index {index} but only {len(tasks)} '
                                              f'tasks {list(tasks)}.')
                fields['task'] = tasks[index]
            if '{name}' in template:
                if groups[0] not in tasks:
                    raise DeMTConversionError(f'{key}: task {groups[0]!r} is not in '
                                              f'{list(tasks)}.')
                fields['name'] = groups[0]
            out[template.format(*groups, **fields)] = value
            break
        else:
            unknown.append(key)
    if unknown:
        raise DeMTConversionError(f'{len(unknown)} head key(s) match no DemtHead weight: '
                                  f'{unknown[:10]}')
    return out


def convert_demt_state_dict(state_dict: Mapping[str, Tensor],
                            tasks: Sequence[str] | None = None
                            ) -> tuple[OrderedDict, dict]:
    """Convert official DeMT weights to a ``MultiTaskEncoderDecoder`` state dict.

    Args:
        state_dict: the Lightning module's weights (``backbone.*``, ``head.*``; ``criterion.*``
            and ``metrics_dict.*`` entries are skipped).
        tasks: the tasks in the order of the official config (``datamodule.tasks``). Default:
            read from the checkpoint.

    Returns:
        tuple: the converted state dict (``backbone.*``, ``decode_head.*``) and a dict of facts
        (``tasks``, ``backbone``, ``skipped`` keys).

    Raises:
        DeMTConversionError: unknown keys, unknown tasks or an unrecognised backbone.
    """
    backbone_sd, head_sd, skipped, unknown = OrderedDict(), OrderedDict(), [], []
    for key, value in state_dict.items():
        if key.startswith('backbone.'):
            backbone_sd[key[len('backbone.'):]] = value
        elif key.startswith('head.'):
            head_sd[key[len('head.'):]] = value
        elif key.startswith(_NON_MODEL_PREFIXES):
            skipped.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise DeMTConversionError(f'{len(unknown)} key(s) are neither `backbone.*` nor '
                                  f'`head.*`: {unknown[:10]}')
    if not backbone_sd or not head_sd:
        raise DeMTConversionError('a DeMT checkpoint needs both `backbone.*` and `head.*` '
                                  f'weights; found {len(backbone_sd)} and {len(head_sd)}.')

    backbone = detect_backbone(list(backbone_sd))
    pattern = _SWIN_KEY if backbone == 'SwinTransformer' else _HRNET_KEY
    bad = [k for k in backbone_sd if not pattern.match(k)]
    if bad:
        raise DeMTConversionError(f'{len(bad)} backbone key(s) do not belong to a DeMT '
                                  f'{backbone}: {bad[:10]}')

    found = _tasks_from_head(list(head_sd))
    if tasks is None:
        tasks = found
    else:
        tasks = list(tasks)
        if sorted(tasks) != sorted(found):
            raise DeMTConversionError(f'tasks {tasks} differ from the checkpoint tasks {found}.')
    channels = head_sd['linear1.0.weight'].shape[0] if 'linear1.0.weight' in head_sd else None
    head = convert_demt_head(head_sd, tasks, channels)

    out = OrderedDict()
    for key, value in backbone_sd.items():
        out[f'backbone.{key}'] = value
    for key, value in head.items():
        out[f'decode_head.{key}'] = value
    return out, dict(tasks=list(tasks), backbone=backbone, skipped=skipped)
