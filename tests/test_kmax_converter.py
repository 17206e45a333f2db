"""tools/model_converters/kmax2mmdense.py on checkpoints in the official (detectron2) layout."""
import importlib.util
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mmdense.models.backbones.timm_convnext import TimmConvNeXt
from mmdense.models.segmentors.kmax_deeplab_checkpoint import (
    convert_convnext_key,
    convert_decoder_key,
    convert_kmax_state_dict,
    convert_resnet_key,
)
from mmdense.registry import MODELS
from mmdense.utils import register_all_modules
from tests.helpers.reference import reference_layout
from tests.helpers.run_tool import run_tool

register_all_modules(init_default_scope=False)
BN = dict(type='BN', eps=1e-3, momentum=0.01)


def _d2_resnet50_shapes():
    """Keys and shapes of detectron2's ResNet-50 (kMaX's custom_bn_build_resnet_backbone)."""
    shapes = {'stem.conv1.weight': (64, 3, 7, 7)}
    bn = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
    for p in bn:
        shapes[f'stem.conv1.norm.{p}'] = () if p == 'num_batches_tracked' else (64, )
    in_ch = 64
    for stage, (blocks, out_ch) in enumerate(zip((3, 4, 6, 3), (256, 512, 1024, 2048)), 2):
        mid = out_ch // 4
        for b in range(blocks):
            layers = {'conv1': (mid, in_ch, 1, 1), 'conv2': (mid, mid, 3, 3),
                      'conv3': (out_ch, mid, 1, 1)}
            if b == 0:
                layers['shortcut'] = (out_ch, in_ch, 1, 1)
            for name, shape in layers.items():
                shapes[f'res{stage}.{b}.{name}.weight'] = shape
                for p in bn:
                    shapes[f'res{stage}.{b}.{name}.norm.{p}'] = (
                        () if p == 'num_batches_tracked' else (shape[0], ))
            in_ch = out_ch
    return shapes


def _random_state(shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: (torch.randint(0, 100, s, generator=gen) if k.endswith('num_batches_tracked')
                else torch.randn(s, generator=gen)) for k, s in shapes.items()}


def _kmax_r50_model():
    with DefaultScope.overwrite_default_scope('mmdense'):
        return MODELS.build(dict(
            type='KMaXDeepLab',
            backbone=dict(type='ResNet', depth=50, norm_cfg=BN, out_indices=(0, 1, 2, 3)),
            decode_head=dict(type='KMaXHead', num_classes=133, norm_cfg=BN),
            test_cfg=dict(thing_class_ids=list(range(80)))))


def test_key_mapping_examples():
    assert convert_decoder_key(
        'pixel_decoder._stages.1._blocks.3._attention._width_axis.qkv_transform.conv.weight'
    ) == 'pixel_decoder.stages.1.3.attention.width_axis.qkv_conv.weight'
    assert convert_decoder_key(
        'pixel_decoder._resized_fuses.0._conv_bn_high.norm.running_var'
    ) == 'pixel_decoder.fuses.0.high_proj.bn.running_var'
    assert convert_decoder_key(
        'predictor._kmax_transformer_layers.5._predcitor._pixel_space_mask_batch_norm.weight'
    ) == 'transformer_decoder.layers.5.predictor.mask_bn.weight'
    assert convert_decoder_key(
        'predictor._auxiliary_semantic_predictor._aspp._aspp_conv2.norm.bias'
    ) == 'aux_semantic_head.aspp.convs.2.bn.bias'
    assert convert_decoder_key(
        'predictor._auxiliary_semantic_predictor._low_level_fusion_os4_conv1_bn_act.conv.weight'
    ) == 'aux_semantic_head.os4_fuse_pw.conv.weight'
    assert convert_resnet_key('stem.conv1.norm.running_mean') == 'bn1.running_mean'
    assert convert_resnet_key('res3.0.shortcut.weight') == 'layer2.0.downsample.0.weight'
    assert convert_resnet_key('res5.2.conv3.norm.weight') == 'layer4.2.bn3.weight'
    assert convert_convnext_key('downsample_layers.0.1.bias') == 'stem.1.bias'
    assert convert_convnext_key('downsample_layers.2.0.weight') == 'stages.2.downsample.0.weight'
    assert convert_convnext_key('stages.2.7.pwconv2.weight') == 'stages.2.blocks.7.mlp.fc2.weight'
    assert convert_convnext_key('stages.3.1.gamma') == 'stages.3.blocks.1.gamma'
    for bad, fn in [('pixel_decoder._stages.0.foo.weight', convert_decoder_key),
                    ('res6.0.conv1.weight', convert_resnet_key),
                    ('stages.0.0.attn.weight', convert_convnext_key)]:
        with pytest.raises(KeyError, match='unexpected'):
            fn(bad)


def test_unknown_keys_are_reported():
    with pytest.raises(KeyError, match='2 keys are not part') as err:
        convert_kmax_state_dict({'backbone.stem.conv1.weight': torch.zeros(1),
                                 'sem_seg_head.extra.weight': torch.zeros(1),
                                 'other.weight': torch.zeros(1)})
    assert 'sem_seg_head.extra.weight' in str(err.value)


def test_full_checkpoint_converts_and_loads_strictly(tmp_path):
    shapes = {'backbone.' + k: s for k, s in _d2_resnet50_shapes().items()}
    shapes.update({'sem_seg_head.' + k: s for k, s in reference_layout('kmax_decoder_coco_r50')})
    official = _random_state(shapes)
    official['pixel_mean'] = torch.zeros(3, 1, 1)
    official['pixel_std'] = torch.ones(3, 1, 1)
    src = str(tmp_path / 'kmax_r50.pth')
    torch.save(dict(model=official, iteration=150000), src)
    dst = str(tmp_path / 'out' / 'kmax_r50_mmdense.pth')
    proc = run_tool('tools/model_converters/kmax2mmdense.py', src, dst)
    assert 'Saved' in proc.stdout

    converted = torch.load(dst, map_location='cpu')['state_dict']
    model = _kmax_r50_model()
    assert set(converted) == set(model.state_dict())  # every key consumed, every entry filled
    model.load_state_dict(converted, strict=True)
    state = model.state_dict()
    assert torch.equal(state['backbone.layer3.5.bn2.running_var'],
                       official['backbone.res4.5.conv2.norm.running_var'])
    assert torch.equal(
        state['decode_head.transformer_decoder.cluster_centers.weight'],
        official['sem_seg_head.predictor._cluster_centers.weight'])
    assert torch.equal(
        state['decode_head.aux_semantic_head.cls_conv.conv.bias'],
        official['sem_seg_head.predictor._auxiliary_semantic_predictor.final_conv.conv.bias'])
    # values are carried over unchanged, key by key
    assert sum(int(torch.equal(v, state[k])) for k, v in converted.items()) == len(state)


def test_bare_backbone_pkl(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'kmax2mmdense', osp.join(osp.dirname(__file__), '..', 'tools', 'model_converters',
                                 'kmax2mmdense.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    weights = {k: v.numpy() for k, v in _random_state(_d2_resnet50_shapes(), 1).items()}
    src = str(tmp_path / 'R-50.pkl')
    with open(src, 'wb') as f:
        pickle.dump(dict(model=weights, __author__='test'), f)
    converted = tool.convert(src, str(tmp_path / 'r50.pth'))
    assert len(converted) == len(weights)
    assert np.array_equal(converted['backbone.conv1.weight'].numpy(), weights['stem.conv1.weight'])
    with pytest.raises(FileNotFoundError, match='no such checkpoint'):
        tool.convert(str(tmp_path / 'missing.pth'), str(tmp_path / 'x.pth'))


def test_convnext_checkpoint_loads_into_timm_convnext():
    dims, depths = (96, 192, 384, 768), (3, 3, 9, 3)
    shapes = {'downsample_layers.0.0.weight': (96, 3, 4, 4), 'downsample_layers.0.0.bias': (96, ),
              'downsample_layers.0.1.weight': (96, ), 'downsample_layers.0.1.bias': (96, )}
    for i in range(1, 4):
        shapes.update({f'downsample_layers.{i}.0.weight': (dims[i - 1], ),
                       f'downsample_layers.{i}.0.bias': (dims[i - 1], ),
                       f'downsample_layers.{i}.1.weight': (dims[i], dims[i - 1], 2, 2),
                       f'downsample_layers.{i}.1.bias': (dims[i], )})
    for i, (dim, depth) in enumerate(zip(dims, depths)):
        for j in range(depth):
            p = f'stages.{i}.{j}.'
            shapes.update({p + 'dwconv.weight': (dim, 1, 7, 7), p + 'dwconv.bias': (dim, ),
                           p + 'norm.weight': (dim, ), p + 'norm.bias': (dim, ),
                           p + 'pwconv1.weight': (4 * dim, dim), p + 'pwconv1.bias': (4 * dim, ),
                           p + 'pwconv2.weight': (dim, 4 * dim), p + 'pwconv2.bias': (dim, ),
                           p + 'gamma': (dim, )})
    official = _random_state({'backbone.' + k: v for k, v in shapes.items()})
    converted = convert_kmax_state_dict(official)
    # a bare ImageNet checkpoint (facebookresearch layout) with its classifier converts alike
    bare = _random_state(dict(shapes, **{'norm.weight': (768, ), 'norm.bias': (768, ),
                                         'head.weight': (1000, 768), 'head.bias': (1000, )}))
    assert set(convert_kmax_state_dict(bare)) == set(converted)
    backbone = TimmConvNeXt(arch='tiny')
    state = {k[len('backbone.'):]: v for k, v in converted.items()}
    assert set(state) == set(backbone.state_dict())
    backbone.load_state_dict(state, strict=True)
    assert torch.equal(backbone.stages[2].blocks[7].mlp.fc1.weight,
                       official['backbone.stages.2.7.pwconv1.weight'])
    # timm-layout weights (e.g. timm's ImageNet checkpoints) only get the prefix
    timm_weights = dict(backbone.state_dict(), **{'head.fc.weight': torch.zeros(1000, 768)})
    assert set(convert_kmax_state_dict(timm_weights)) == {'backbone.' + k for k in state}
