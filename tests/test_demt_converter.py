"""Conversion of official DeMT (PyTorch-Lightning) checkpoints to MultiTaskEncoderDecoder."""
import importlib.util
import os.path as osp
import re

import pytest
import torch

from mmdense.models.heads.demt.demt_checkpoint import (
    DeMTConversionError,
    convert_demt_state_dict,
    extract_demt_state_dict,
)
from mmdense.registry import MODELS
from tests.helpers.reference import reference_layout

from .test_demt_head import HRNET18, NYUD, PASCAL, SWIN_T, official_head_layout

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

HRNET18S = dict(type='HRNet', extra=dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(2, ),
                num_channels=(64, )),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(2, 2),
                num_channels=(18, 36)),
    stage3=dict(num_modules=3, num_branches=3, block='BASIC', num_blocks=(2, 2, 2),
                num_channels=(18, 36, 72)),
    stage4=dict(num_modules=2, num_branches=4, block='BASIC', num_blocks=(2, 2, 2, 2),
                num_channels=(18, 36, 72, 144))))
SWINT = dict(type='SwinTransformer', embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
             window_size=7, mlp_ratio=4, strides=(4, 2, 2, 2), out_indices=(0, 1, 2, 3),
             drop_path_rate=0.1)


def build_model(backbone, in_channels, tasks):
    names, channels = tasks
    losses = {t: dict(type='MaskedL1Loss') for t in names}
    return MODELS.build(dict(
        type='MultiTaskEncoderDecoder', backbone=backbone,
        decode_head=dict(type='DeMTHead', in_channels=in_channels, tasks=names,
                         task_channels=channels),
        losses=losses, data_preprocessor=dict(type='MultiTaskDataPreProcessor')))


def official_backbone_layout(backbone_cfg):
    """DeMT's HRNet18-S / Swin-T keys are mmseg's (checked against the reference below)."""
    model = MODELS.build(backbone_cfg)
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def fake_lightning_checkpoint(path, backbone_layout, head_layout):
    """A Lightning-style checkpoint with distinct random values for every official key."""
    g = torch.Generator().manual_seed(0)
    state_dict = {}
    for prefix, layout in (('backbone.', backbone_layout), ('head.', head_layout)):
        for key, shape in layout:
            if key.endswith(('num_batches_tracked', 'relative_position_index')):
                value = torch.randint(0, 100, shape, generator=g)
            else:
                value = torch.randn(shape, generator=g)
            state_dict[prefix + key] = value
    ckpt = {'epoch': 12, 'global_step': 40000, 'pytorch-lightning_version': '1.1.8',
            'state_dict': state_dict, 'callbacks': {}, 'optimizer_states': [{'state': {}}],
            'lr_schedulers': [{'last_epoch': 40000}]}
    torch.save(ckpt, path)
    return state_dict


def expected_name(key, tasks):
    """Where an official key must land (written independently of the converter's rules)."""
    if key.startswith('backbone.'):
        return key
    k = key[len('head.'):]
    subs = [
        (r'^linear1\.0\.', 'input_proj.'), (r'^linear1\.1\.', 'input_norm.'),
        (r'^task_fusion\.', 'task_interaction.attn.'), (r'^smlp\.0\.', 'task_interaction.proj.'),
        (r'^smlp\.1\.', 'task_interaction.norm.'),
        (r'^bottleneck\.', 'task_convs.'), (r'^final_logits\.', 'conv_logits.'),
    ]
    for pattern, repl in subs:
        if re.match(pattern, k):
            return 'decode_head.' + re.sub(pattern, repl, k)
    m = re.match(r'^task_querys\.(\d)\.(.*)$', k)
    if m:
        return f'decode_head.task_queries.{tasks[int(m[1])]}.attn.{m[2]}'
    m = re.match(r'^smlp2\.(\d)\.(\d)\.(.*)$', k)
    if m:
        return (f'decode_head.task_queries.{tasks[int(m[1])]}.'
                f'{["proj", "norm"][int(m[2])]}.{m[3]}')
    m = re.match(r'^defor_mixers\.(\d)\.blocks\.0\.(.*)$', k)
    rest = {'0.': 'channel_conv.', '2.': 'channel_norm.', '3.fn.0.get_offset.p_conv.':
            'spatial_conv.offset_conv.', '3.fn.0.get_offset.opt.': 'spatial_conv.offset_proj.',
            '3.fn.0.': 'spatial_conv.', '3.fn.2.': 'spatial_norm.'}
    for src, dst in rest.items():
        if m[2].startswith(src):
            return f'decode_head.mixers.{tasks[int(m[1])]}.layers.0.{dst}{m[2][len(src):]}'
    raise AssertionError(key)


@pytest.mark.parametrize('name,in_channels,tasks', [
    ('nyud_hrnet18', HRNET18, NYUD), ('pascal_swint', SWIN_T, PASCAL)])
def test_layout_helpers_match_the_reference_facts(name, in_channels, tasks):
    assert reference_layout(f'demt_head_{name}') == official_head_layout(in_channels, *tasks)
    bb = 'hrnet18s' if in_channels == HRNET18 else 'swint'
    cfg = HRNET18S if in_channels == HRNET18 else SWINT
    assert reference_layout(f'demt_backbone_{bb}') == official_backbone_layout(cfg)


@pytest.mark.parametrize('backbone,in_channels,tasks', [
    (HRNET18S, HRNET18, NYUD), (SWINT, SWIN_T, PASCAL)])
def test_converted_checkpoint_loads_strictly_with_every_value_in_place(
        tmp_path, backbone, in_channels, tasks):
    src = tmp_path / 'official.ckpt'
    official = fake_lightning_checkpoint(src, official_backbone_layout(backbone),
                                         official_head_layout(in_channels, *tasks))
    ckpt = torch.load(src, weights_only=True)
    converted, info = convert_demt_state_dict(extract_demt_state_dict(ckpt))
    assert info['tasks'] == tasks[0]
    assert info['backbone'] == backbone['type']
    # mmseg's name (the segmentor would also accept the `head.*` of earlier mmdense versions)
    assert {k.split('.')[0] for k in converted} == {'backbone', 'decode_head'}

    model = build_model(backbone, in_channels, tasks)
    model.load_state_dict(converted, strict=True)
    target = model.state_dict()
    landed = 0
    for key, value in official.items():
        if key.endswith('.3.fn.0.offset'):
            assert all(not k.endswith('offset') for k in converted)
            continue
        assert torch.equal(target[expected_name(key, tasks[0])], value), key
        landed += 1
    assert landed == len(target) == len(official) - len(tasks[0])


def test_command_line_tool(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'demt2mmdense', osp.join(ROOT, 'tools/model_converters/demt2mmdense.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    src, dst = tmp_path / 'official.ckpt', tmp_path / 'converted.pth'
    fake_lightning_checkpoint(src, official_backbone_layout(HRNET18S),
                              official_head_layout(HRNET18, *NYUD))
    assert tool.main([str(src), str(dst), '--tasks', 'semseg,depth']) == 1  # not the tasks
    assert tool.main([str(src), str(dst)]) == 0
    out = torch.load(dst, weights_only=False)
    assert out['meta']['tasks'] == NYUD[0] and out['meta']['epoch'] == 12
    model = build_model(HRNET18S, HRNET18, NYUD)
    model.load_state_dict(out['state_dict'], strict=True)
    assert tool.main([str(tmp_path / 'missing.ckpt'), str(dst)]) == 1


def test_task_order_follows_the_official_indices():
    tasks, channels = NYUD
    layout = official_head_layout([4, 4], tasks, channels, 8)
    head = {f'head.{k}': torch.zeros(s) for k, s in layout}
    head['head.task_querys.2.in_proj_bias'] = torch.ones(24)  # index 2 = normals
    sd = dict(head, **{'backbone.conv1.weight': torch.zeros(1),
                       'backbone.stage2.0.x': torch.zeros(1)})
    with pytest.raises(DeMTConversionError, match='do not belong'):
        convert_demt_state_dict(sd)  # 'stage2.0.x' is not an HRNet key
    sd.pop('backbone.stage2.0.x')
    sd['backbone.transition1.0.0.weight'] = torch.zeros(1)
    out, _ = convert_demt_state_dict(sd)
    assert torch.all(out['decode_head.task_queries.normals.attn.in_proj_bias'] == 1)
    # Given explicitly, the order maps the indices differently.
    out, _ = convert_demt_state_dict(sd, tasks=['semseg', 'normals', 'depth', 'edge'])
    assert torch.all(out['decode_head.task_queries.depth.attn.in_proj_bias'] == 1)


@pytest.mark.parametrize('mutate,match', [
    (lambda sd: sd.update({'head.extra.weight': torch.zeros(1)}), 'match no DemtHead'),
    (lambda sd: sd.update({'optimizer.x': torch.zeros(1)}), 'neither'),
    (lambda sd: sd.update({'head.task_querys.7.in_proj_bias': torch.zeros(1)}), 'task index 7'),
    (lambda sd: sd.update({'head.defor_mixers.0.blocks.0.3.fn.0.offset': torch.zeros(2)}),
     'unexpected shape'),
    (lambda sd: [sd.pop(k) for k in list(sd) if k.startswith('head.')], 'both'),
])
def test_bad_checkpoints_raise_clear_errors(mutate, match):
    tasks, channels = NYUD
    sd = {f'head.{k}': torch.zeros(s) for k, s in official_head_layout([4, 4], tasks, channels, 8)}
    sd['backbone.transition1.0.0.weight'] = torch.zeros(1)
    sd['criterion.loss_dict.edge.final.pos_weight'] = torch.zeros(1)  # skipped, not an error
    _, info = convert_demt_state_dict(dict(sd))
    assert info['skipped'] == ['criterion.loss_dict.edge.final.pos_weight']
    with pytest.raises(DeMTConversionError, match='differ'):
        convert_demt_state_dict(dict(sd), tasks=['semseg'])
    with pytest.raises(DeMTConversionError, match='not a DeMT checkpoint'):
        extract_demt_state_dict({'model': {}})
    mutate(sd)
    with pytest.raises(DeMTConversionError, match=match):
        convert_demt_state_dict(sd)
