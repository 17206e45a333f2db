"""kMaX-DeepLab model: any input size, losses through the segmentor, inference, backbones."""
import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmdense.models.backbones.timm_convnext import TimmConvNeXt
from mmdense.models.heads.kmax import KMaXPixelDecoder
from mmdense.models.heads.kmax.pixel_decoder import MAX_SPAN, RelativePositionalEncoding
from mmdense.registry import MODELS
from mmdense.structures.panoptic import INSTANCE_OFFSET
from mmdense.utils import register_all_modules

register_all_modules(init_default_scope=False)
BN = dict(type='BN', eps=1e-3, momentum=0.01)
NUM_CLASSES = 5


def _small_head_cfg(in_channels=(64, 128, 256, 512)):
    return dict(
        type='KMaXHead',
        in_channels=in_channels,
        num_classes=NUM_CLASSES,
        norm_cfg=BN,
        pixel_decoder=dict(type='KMaXPixelDecoder', dec_channels=(32, 16, 16, 8),
                           dec_layers=(1, 2, 1, 1)),
        transformer_decoder=dict(type='KMaXTransformerDecoder', in_channels=(128, 64, 64, 32),
                                 dec_layers=(1, 1, 1), num_queries=16),
        criterion=dict(type='KMaXCriterion', pixel_insdis_sample_k=64, aux_semantic_sample_k=64))


def _small_model():
    with DefaultScope.overwrite_default_scope('mmdense'):
        return _build_small_model()


def _build_small_model():
    return MODELS.build(dict(
        type='KMaXDeepLab',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[127.5] * 3, std=[127.5] * 3,
                               size=(65, 65), test_cfg=dict(size=(65, 65))),
        backbone=dict(type='ResNet', depth=18, norm_cfg=BN, out_indices=(0, 1, 2, 3)),
        decode_head=_small_head_cfg(),
        test_cfg=dict(thing_class_ids=[0, 1, 2], class_threshold_thing=0.0,
                      class_threshold_stuff=0.0)))


def _sample(h, w):
    """A panoptic ground truth: stuff 3 (top), thing 0 x2, crowd thing 1, void corner."""
    ids = torch.zeros((1, h, w), dtype=torch.int64)
    ids[0, : h // 2] = 11
    ids[0, h // 2:, : w // 3] = 21
    ids[0, h // 2:, w // 3: 2 * w // 3] = 22
    ids[0, h // 2:, 2 * w // 3:] = 31
    ids[0, -3:, -3:] = 0
    segments = [dict(id=11, category=3, iscrowd=0, is_thing=False),
                dict(id=21, category=0, iscrowd=0, is_thing=True),
                dict(id=22, category=0, iscrowd=0, is_thing=True),
                dict(id=31, category=1, iscrowd=1, is_thing=True)]
    sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         segments_info=segments))
    sample.gt_panoptic_seg = PixelData(sem_seg=ids)
    return sample


def test_relative_positions_match_official_table():
    rpe = RelativePositionalEncoding(4)
    for length in (1, 16, 17, 41):
        index = rpe._relative_index(length, torch.device('cpu'))
        q = torch.arange(length)[:, None]
        k = torch.arange(length)[None, :]
        assert torch.equal(index, k - q + MAX_SPAN - 1)
        assert rpe(length).shape == (length, length, 4)
    with pytest.raises(ValueError, match='at most 255 positions'):
        rpe(MAX_SPAN + 1)


@pytest.mark.parametrize('hw', [(64, 64), (65, 97), (37, 50)])
def test_pixel_decoder_runs_at_any_size(hw):
    torch.manual_seed(0)
    decoder = KMaXPixelDecoder(in_channels=(8, 16, 32, 64), dec_channels=(8, 8, 4, 4),
                               dec_layers=(1, 1, 1, 1), norm_cfg=BN).eval()
    h, w = hw
    sizes = [(-(-h // s), -(-w // s)) for s in (4, 8, 16, 32)]
    feats = [torch.randn(1, c, *size) for c, size in zip((8, 16, 32, 64), sizes)]
    outs = decoder(feats)
    assert [tuple(o.shape[-2:]) for o in outs] == sizes[::-1]
    assert [o.shape[1] for o in outs] == [32, 32, 16, 16]


def test_loss_and_predict_through_segmentor():
    torch.manual_seed(0)
    model = _small_model()
    model.train()
    inputs = [torch.randint(0, 255, (3, 65, 60), dtype=torch.uint8),
              torch.randint(0, 255, (3, 50, 65), dtype=torch.uint8)]
    samples = [_sample(65, 60), _sample(50, 65)]
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    assert data['inputs'].shape == (2, 3, 65, 65)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    expected = {'loss_cls', 'loss_mask', 'loss_dice', 'loss_insdis', 'loss_aux_semantic'}
    expected |= {f'd{i}.{k}' for i in range(3) for k in expected - {'loss_aux_semantic'}}
    assert set(losses) == expected
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.decode_head.parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > len(grads) // 2

    model.eval()
    sample = SegDataSample(metainfo=dict(img_shape=(40, 65), ori_shape=(80, 130)))
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (3, 40, 65), dtype=torch.uint8)],
             data_samples=[sample]), training=False)
    with torch.no_grad():
        out = model(data['inputs'], data['data_samples'], mode='predict')[0]
    panoptic = out.pred_panoptic_seg.sem_seg
    assert panoptic.shape == (1, 80, 130)
    labels = panoptic % INSTANCE_OFFSET
    assert bool(((labels >= 0) & (labels <= NUM_CLASSES)).all())
    assert out.pred_sem_seg.data.shape == (1, 80, 130)


def test_build_target_pads_subsamples_and_drops_crowd():
    torch.manual_seed(0)
    head = MODELS.build(_small_head_cfg())
    sample = _sample(13, 16)
    sample.set_metainfo(dict(batch_input_shape=(17, 17)))
    target = head.build_target(sample, (5, 5))
    # stuff 3 and the two things; the crowd segment becomes void
    assert target['labels'].tolist() == [3, 0, 0]
    ids = torch.nn.functional.pad(sample.gt_panoptic_seg.sem_seg[0], (0, 1, 0, 4))[::4, ::4]
    assert torch.equal(target['masks'][0].bool(), ids == 11)
    assert torch.equal(target['masks'][2].bool(), ids == 22)
    assert bool((target['sem_seg'][ids == 31] == NUM_CLASSES).all())
    assert bool((target['sem_seg'][ids == 0] == NUM_CLASSES).all())
    assert bool((target['sem_seg'][ids == 21] == 0).all())


def test_missing_thing_ids_is_an_error():
    with pytest.raises(ValueError, match='thing_class_ids'):
        MODELS.build(dict(type='KMaXDeepLab', backbone=dict(type='ResNet', depth=18),
                          decode_head=_small_head_cfg()))


def test_timm_convnext_deeplab_padding():
    torch.manual_seed(0)
    backbone = TimmConvNeXt(arch='tiny').eval()
    assert backbone.out_channels == [96, 192, 384, 768]
    assert sum(p.numel() for p in backbone.parameters()) == 27_818_592
    with torch.no_grad():
        outs = backbone(torch.randn(1, 3, 65, 97))
    # as DeepLab2 (and ResNet): ceil(size / stride) at every stride
    assert [tuple(o.shape[-2:]) for o in outs] == [(17, 25), (9, 13), (5, 7), (3, 4)]
    with pytest.raises(ValueError, match='unknown ConvNeXt arch'):
        TimmConvNeXt(arch='huge')
