"""kMaX-DeepLab's Cityscapes model: ResNet stem as a fifth pixel-decoder input, light aux head.

The official structure is generated here from the rules of the official modules
(bytedance/kmax-deeplab kmax_pixel_decoder.py, kmax_transformer_decoder.py) and checked against
the official COCO head's keys and shapes (tests/data/kmax_decoder_coco_r50.keys.json),
then applied to the Cityscapes settings.
"""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.models.backbones import ResNet

from mmdense.models.backbones.resnet_stem import ResNetWithStem
from mmdense.models.heads.kmax import KMaXPixelDecoder
from mmdense.models.heads.kmax.aux_semantic_head import KMaXAuxSemanticLightHead
from mmdense.models.segmentors.kmax_deeplab_checkpoint import (
    convert_decoder_key,
    convert_kmax_state_dict,
)
from mmdense.registry import MODELS
from mmdense.utils import register_all_modules
from tests.helpers.reference import reference_layout
from tests.test_kmax_converter import _d2_resnet50_shapes, _random_state
from tests.test_kmax_model import _sample

register_all_modules(init_default_scope=False)
BN = dict(type='BN', eps=1e-3, momentum=0.01)
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CITYSCAPES = osp.join(ROOT, 'configs/kmax/kmax_r50_8xb4-60k_cityscapes-panoptic-1025x2049.py')
NUM_EMBEDDINGS = 255 * 2 - 1  # MAX_SPAN = 255

# Official Cityscapes settings (forks' copies of configs/cityscapes/.../kmax_r50.yaml), with the
# pixel-decoder inputs in the order detectron2's stable stride sort gives them.
CITY_IN_CHANNELS = (2048, 1024, 512, 64, 256)  # res5, res4, res3, stem, res2
CITY_DEC_LAYERS = (1, 5, 1, 1, 1)
CITY_DEC_CHANNELS = (512, 256, 128, 64, 32)
CITY_LAYER_TYPES = ('axial', 'axial', 'bottleneck', 'bottleneck', 'bottleneck')


def _bn(shapes, prefix, channels):
    for p in ('weight', 'bias', 'running_mean', 'running_var'):
        shapes[f'{prefix}.{p}'] = (channels, )
    shapes[f'{prefix}.num_batches_tracked'] = ()


def _conv_bn(shapes, prefix, cin, cout, kernel=1, groups=1, norm=True, bias=False):
    shapes[f'{prefix}.conv.weight'] = (cout, cin // groups, kernel, kernel)
    if bias:
        shapes[f'{prefix}.conv.bias'] = (cout, )
    if norm:
        _bn(shapes, f'{prefix}.norm', cout)


def official_pixel_decoder_shapes(in_channels, dec_layers, dec_channels, layer_types):
    """Keys (without ``pixel_decoder.``) and shapes of the official kMaXPixelDecoder.

    ``in_channels`` are given coarsest stage first, as the official module sorts them.
    """
    shapes = {}
    for i, c in enumerate(in_channels):
        shapes[f'_in_norms.{i}.weight'] = (c, )
        shapes[f'_in_norms.{i}.bias'] = (c, )
    for i, base in enumerate(dec_channels):
        axial = layer_types[i] == 'axial'
        filters = (base * 2, base, base * 4) if axial else (base, base, base * 4)
        inplanes = in_channels[0] if i == 0 else base
        for j in range(dec_layers[i]):
            p = f'_stages.{i}._blocks.{j}'
            _conv_bn(shapes, f'{p}._conv1_bn_act', inplanes, filters[0])
            if axial:
                key, value = base, base * 2  # key_expansion 1, value_expansion 2
                for axis, cin in (('_height_axis', filters[0]), ('_width_axis', value)):
                    a = f'{p}._attention.{axis}'
                    shapes[f'{a}.qkv_transform.conv.weight'] = (key * 2 + value, cin, 1)
                    shapes[f'{a}._query_rpe._embeddings.weight'] = (NUM_EMBEDDINGS, key // 8)
                    shapes[f'{a}._key_rpe._embeddings.weight'] = (NUM_EMBEDDINGS, key // 8)
                    shapes[f'{a}._value_rpe._embeddings.weight'] = (NUM_EMBEDDINGS, value // 8)
                    _bn(shapes, f'{a}._batch_norm_qkv', key * 2 + value)
                    _bn(shapes, f'{a}._batch_norm_similarity', 8 * 3)
                    _bn(shapes, f'{a}._batch_norm_retrieved_output', value * 2)
                mid = value
            else:
                _conv_bn(shapes, f'{p}._conv2_bn_act', filters[0], filters[1], kernel=3)
                mid = filters[1]
            _conv_bn(shapes, f'{p}._conv3_bn', mid, filters[2])
            if inplanes != filters[2]:
                _conv_bn(shapes, f'{p}._shortcut', inplanes, filters[2])
            inplanes = filters[2]
        if i > 0:
            low, high = dec_channels[i - 1] * 4, in_channels[i]
            if low != base:
                _conv_bn(shapes, f'_resized_fuses.{i - 1}._conv_bn_low', low, base)
            if high != base:
                _conv_bn(shapes, f'_resized_fuses.{i - 1}._conv_bn_high', high, base)
    return shapes


def official_light_aux_shapes(in_channels, num_classes):
    """Keys (without ``predictor.``) of the official head built when
    ``USE_AUX_SEMANTIC_DECODER`` is False."""
    shapes = {}
    prefix = '_auxiliary_semantic_predictor'
    _conv_bn(shapes, f'{prefix}.0', in_channels, in_channels, kernel=5, groups=in_channels)
    _conv_bn(shapes, f'{prefix}.1', in_channels, 256)
    _conv_bn(shapes, f'{prefix}.2', 256, num_classes, norm=False, bias=True)
    return shapes


def _coco_official():
    """The official COCO head without its auxiliary semantic predictor (the Cityscapes
    model's is another structure, generated by official_light_aux_shapes)."""
    return {k: s for k, s in reference_layout('kmax_decoder_coco_r50')
            if not k.startswith('predictor._auxiliary_semantic_predictor.')}


@pytest.fixture(scope='module')
def city_model():
    """The model of the Cityscapes config (BN instead of SyncBN, no pretrained file)."""
    cfg = Config.fromfile(CITYSCAPES).model
    cfg.backbone.init_cfg = None
    cfg.backbone.norm_cfg = BN
    cfg.decode_head.norm_cfg = BN
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdense'):
        return MODELS.build(cfg)


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


def test_generator_reproduces_the_official_coco_pixel_decoder():
    official = {k[len('pixel_decoder.'):]: s for k, s in _coco_official().items()
                if k.startswith('pixel_decoder.')}
    generated = official_pixel_decoder_shapes(
        (2048, 1024, 512, 256), (1, 5, 1, 1), (512, 256, 128, 64),
        ('axial', 'axial', 'bottleneck', 'bottleneck'))
    assert generated == official


def test_resnet_with_stem_returns_the_stem_first():
    torch.manual_seed(0)
    plain = ResNet(depth=18, norm_cfg=BN)
    stem = ResNetWithStem(depth=18, norm_cfg=BN)
    assert list(stem.state_dict()) == list(plain.state_dict())
    stem.load_state_dict(plain.state_dict())
    plain.eval()  # mmseg's ResNet.train returns None, so no chaining
    stem.eval()
    x = torch.randn(1, 3, 65, 97)
    with torch.no_grad():
        outs = stem(x)
        ref = plain(x)
        expected_stem = F.max_pool2d(F.relu(plain.norm1(plain.conv1(x))), 3, 2, 1)
    assert len(outs) == 5
    assert outs[0].shape == (1, 64, 17, 25)  # stride 4, like res2
    assert torch.allclose(outs[0], expected_stem)
    for a, b in zip(outs[1:], ref):
        assert torch.equal(a, b)


def test_in_index_orders_the_stages():
    torch.manual_seed(0)
    # backbone order (stem, res2, res3, res4, res5) at reduced widths
    in_channels = (8, 32, 48, 64, 96)
    decoder = KMaXPixelDecoder(in_channels=in_channels, in_index=(4, 3, 2, 0, 1),
                               dec_layers=(1, 1, 1, 1, 1), dec_channels=(16, 16, 8, 8, 4),
                               layer_types=CITY_LAYER_TYPES, norm_cfg=BN).eval()
    assert [n.weight.numel() for n in decoder.in_norms] == [96, 64, 48, 8, 32]
    # the stem has as many channels as the stage it joins: no projection, as officially
    assert decoder.fuses[2].high_proj is None
    assert decoder.fuses[3].high_proj is not None
    sizes = [(17, 25), (17, 25), (9, 13), (5, 7), (3, 4)]
    feats = [torch.randn(1, c, *s) for c, s in zip(in_channels, sizes)]
    outs = decoder(feats)
    assert [tuple(o.shape[1:]) for o in outs] == [(64, 3, 4), (64, 5, 7), (32, 9, 13),
                                                   (32, 17, 25), (16, 17, 25)]
    # permuting the stem and res2 inputs changes the output: the order is used
    swapped = KMaXPixelDecoder(in_channels=in_channels, in_index=(4, 3, 2, 1, 0),
                               dec_layers=(1, 1, 1, 1, 1), dec_channels=(16, 16, 8, 8, 4),
                               layer_types=CITY_LAYER_TYPES, norm_cfg=BN)
    assert [n.weight.numel() for n in swapped.in_norms] == [96, 64, 48, 32, 8]
    with pytest.raises(ValueError, match='in_index must order all 5'):
        KMaXPixelDecoder(in_channels=in_channels, in_index=(4, 3, 2, 1, 1),
                         dec_layers=(1, 1, 1, 1, 1), dec_channels=(16, 16, 8, 8, 4),
                         layer_types=CITY_LAYER_TYPES, norm_cfg=BN)


def test_default_in_index_keeps_the_four_stage_order():
    decoder = KMaXPixelDecoder(in_channels=(8, 16, 32, 64), dec_channels=(8, 8, 4, 4),
                               dec_layers=(1, 1, 1, 1), norm_cfg=BN)
    assert decoder.in_index == [3, 2, 1, 0]


def test_light_aux_head_structure_and_count():
    head = KMaXAuxSemanticLightHead(2048, 19, BN)
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == {
        convert_decoder_key('predictor.' + k)[len('aux_semantic_head.'):]: s
        for k, s in official_light_aux_shapes(2048, 19).items()}
    # 5x5 depthwise + BN, 1x1 to 256 + BN, 1x1 classifier with bias
    assert _num_params(head) == 2048 * 25 + 2 * 2048 + 2048 * 256 + 2 * 256 + 256 * 19 + 19
    assert torch.equal(head[2].conv.bias, torch.zeros(19))


def test_cityscapes_model_parameter_count(city_model):
    head = city_model.decode_head
    assert _num_params(city_model.backbone) == 23_508_032
    assert _num_params(head.pixel_decoder) == 21_170_240
    assert _num_params(head.transformer_decoder) == 11_712_506
    assert _num_params(head.aux_semantic_head) == 584_979
    assert _num_params(head) == 33_467_725
    assert _num_params(city_model) == 56_975_757


def test_official_cityscapes_checkpoint_converts_and_loads_strictly(city_model):
    state = city_model.state_dict()
    shapes = {'backbone.' + k: s for k, s in _d2_resnet50_shapes().items()}
    shapes.update({'sem_seg_head.pixel_decoder.' + k: s for k, s in official_pixel_decoder_shapes(
        CITY_IN_CHANNELS, CITY_DEC_LAYERS, CITY_DEC_CHANNELS, CITY_LAYER_TYPES).items()})
    shapes.update({'sem_seg_head.predictor.' + k: s
                   for k, s in official_light_aux_shapes(2048, 19).items()})
    # The transformer decoder has the COCO module names; its widths (19 classes, 256
    # queries, 128-channel final feature) are read from the model.
    for key in _coco_official():
        if key.startswith('predictor.'):
            shapes['sem_seg_head.' + key] = tuple(
                state['decode_head.' + convert_decoder_key(key)].shape)
    official = _random_state(shapes)
    converted = convert_kmax_state_dict(official)
    assert set(converted) == set(state)
    missing, unexpected = city_model.load_state_dict(converted, strict=True)
    assert not missing and not unexpected
    loaded = city_model.state_dict()
    pairs = {
        'decode_head.pixel_decoder.in_norms.3.weight':
            'sem_seg_head.pixel_decoder._in_norms.3.weight',  # the stem's LayerNorm (64)
        'decode_head.pixel_decoder.stages.4.0.conv3.conv.weight':
            'sem_seg_head.pixel_decoder._stages.4._blocks.0._conv3_bn.conv.weight',
        'decode_head.pixel_decoder.fuses.3.high_proj.bn.running_var':
            'sem_seg_head.pixel_decoder._resized_fuses.3._conv_bn_high.norm.running_var',
        'decode_head.aux_semantic_head.0.conv.weight':
            'sem_seg_head.predictor._auxiliary_semantic_predictor.0.conv.weight',
        'decode_head.aux_semantic_head.2.conv.bias':
            'sem_seg_head.predictor._auxiliary_semantic_predictor.2.conv.bias',
        'backbone.conv1.weight': 'backbone.stem.conv1.weight',
    }
    for ours, theirs in pairs.items():
        assert torch.equal(loaded[ours], official[theirs]), ours
    assert loaded['decode_head.pixel_decoder.in_norms.3.weight'].shape == (64, )
    assert not any('fuses.2.high_proj' in k for k in loaded)


def test_cityscapes_forward_and_losses_at_a_small_size(city_model):
    torch.manual_seed(0)
    city_model.train()
    h, w = 65, 129
    x = torch.randn(1, 3, h, w)
    sample = _sample(h, w)
    sample.set_metainfo(dict(batch_input_shape=(h, w)))
    head = city_model.decode_head
    feats = city_model.extract_feat(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 17, 33), (256, 17, 33), (512, 9, 17),
                                                   (1024, 5, 9), (2048, 3, 5)]
    predictions, aux = head(feats)
    # masks and the pixel feature stay at stride 4; 256 cluster centres, 19 + void classes
    assert predictions[-1]['mask_logits'].shape == (1, 256, 17, 33)
    assert predictions[-1]['class_logits'].shape == (1, 256, 20)
    assert predictions[-1]['pixel_feature'].shape == (1, 128, 17, 33)
    assert aux.shape == (1, 19, 3, 5)  # light head: stride 32, no void channel

    losses = head.loss(feats, [sample])
    assert 'loss_aux_semantic' in losses
    assert all(torch.isfinite(v) for v in losses.values())
    # AUX_SEMANTIC_SAMPLE_K 0: plain cross-entropy over every labelled pixel of the
    # ground truth subsampled to the stride-32 logits (stride (33 - 1) // (5 - 1) = 8).
    with torch.no_grad():
        _, aux = head(feats)
    gt = head.build_target(sample, (17, 33))['sem_seg'][::8, ::8][None]
    per_pixel = F.cross_entropy(aux, gt, ignore_index=19, reduction='none')
    expected = per_pixel[gt != 19].mean()
    assert torch.allclose(losses['loss_aux_semantic'], expected, rtol=1e-4)
