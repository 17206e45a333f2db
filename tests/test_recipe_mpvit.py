"""MPViT UperNet ADE20K configs against the official recipe, field by field.

Official: youngwanLEE/MPViT semantic_segmentation/configs/mpvit/upernet/
upernet_mpvit_{small,base}_160k_ade20k.py, its _base_/models/upernet_mpvit.py, and the mmseg
0.11.0 base files it inherits (_base_/datasets/ade20k.py, default_runtime.py,
schedules/schedule_160k.py). configs/mpvit/README.md "Recipe vs official" lists the same fields
with line numbers.
"""
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/mpvit/upernet_mpvit-{}_8xb2-160k_ade20k-512x512.py'
# arch, drop path, decode-head channels, pretrained file; T/XS have no official setting.
ARCHS = {
    # upernet_mpvit_small_160k_ade20k.py l.15-21
    's': ('small', 0.2, [128, 216, 288, 288], 'mpvit-s_in1k-224_mmdense.pth'),
    # upernet_mpvit_base_160k_ade20k.py l.15-21
    'b': ('base', 0.4, [224, 368, 480, 480], 'mpvit-b_in1k-224_mmdense.pth'),
    # no official config: the MPViT-S recipe with drop path 0.1 (deliberate, README)
    't': ('tiny', 0.1, [96, 176, 216, 216], 'mpvit-t_in1k-224_mmdense.pth'),
    'xs': ('xsmall', 0.1, [128, 192, 256, 256], 'mpvit-xs_in1k-224_mmdense.pth'),
}


def _cfg(size):
    return Config.fromfile(osp.join(REPO, CONFIG.format(size)))


def ade20k_pipelines_match_mmseg_0x(cfg):
    """The mmseg 0.x ADE20K pipelines (configs/_base_/datasets/ade20k.py of mmseg 0.11 and
    DAT-Segmentation): Resize (2048, 512) x [0.5, 2], RandomCrop 512 with cat_max_ratio 0.75,
    flip 0.5, PhotoMetricDistortion (default deltas), ImageNet normalisation, then padding to
    512 with 0 (image, after normalisation) / 255 (labels); test at (2048, 512), whole image."""
    train = cfg.train_dataloader.dataset.pipeline
    assert [t.type for t in train] == [
        'LoadImageFromFile', 'LoadAnnotations', 'RandomResize', 'RandomCrop', 'RandomFlip',
        'PhotoMetricDistortion', 'PackSegInputs']
    assert train[1].reduce_zero_label is True
    assert (train[2].scale, train[2].ratio_range, train[2].keep_ratio) == \
        ((2048, 512), (0.5, 2.0), True)
    assert (train[3].crop_size, train[3].cat_max_ratio) == ((512, 512), 0.75)
    assert train[4].prob == 0.5
    # mmseg 0.x PhotoMetricDistortion defaults (brightness 32, contrast/saturation 0.5-1.5,
    # hue 18) are those of mmseg 1.x: the config must not override them
    assert set(train[5]) == {'type'}
    pre = cfg.model.data_preprocessor
    assert (pre.mean, pre.std, pre.bgr_to_rgb) == \
        ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375], True)
    assert (pre.size, pre.pad_val, pre.seg_pad_val) == ((512, 512), 0, 255)
    test = cfg.test_dataloader.dataset.pipeline
    assert [t.type for t in test] == ['LoadImageFromFile', 'Resize', 'LoadAnnotations',
                                      'PackSegInputs']
    assert (test[1].scale, test[1].keep_ratio) == ((2048, 512), True)
    assert cfg.model.test_cfg.mode == 'whole'
    assert cfg.val_dataloader.dataset.pipeline == test
    assert cfg.val_evaluator == dict(type='IoUMetric', iou_metrics=['mIoU'])
    assert cfg.train_dataloader.dataset.data_prefix.img_path == 'images/training'
    assert cfg.val_dataloader.dataset.data_prefix.img_path == 'images/validation'


@pytest.mark.parametrize('size', sorted(ARCHS))
def test_model_matches_official(size):
    arch, drop_path, channels, ckpt = ARCHS[size]
    model = _cfg(size).model
    backbone = model.backbone
    assert (backbone.type, backbone.arch, backbone.drop_path_rate) == ('MPViT', arch, drop_path)
    # upernet_mpvit_{small,base}_160k_ade20k.py l.22-23: SyncBN, statistics trained
    assert backbone.norm_cfg == dict(type='SyncBN', requires_grad=True)
    assert backbone.norm_eval is False
    # the official config loads the ImageNet-1k backbone (mpvit_*_mm.pth, l.15), converted
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=f'pretrained/{ckpt}')
    head, aux = model.decode_head, model.auxiliary_head
    # _base_/models/upernet_mpvit.py l.27-38: UPerHead
    assert (head.type, head.in_channels, head.in_index, head.pool_scales, head.channels,
            head.dropout_ratio, head.num_classes, head.align_corners) == \
        ('UPerHead', channels, [0, 1, 2, 3], (1, 2, 3, 6), 512, 0.1, 150, False)
    assert head.norm_cfg == dict(type='SyncBN', requires_grad=True)
    assert head.loss_decode == dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
    # _base_/models/upernet_mpvit.py l.39-51: FCN auxiliary head on stage 3, weight 0.4
    assert (aux.type, aux.in_channels, aux.in_index, aux.channels, aux.num_convs,
            aux.concat_input, aux.dropout_ratio, aux.num_classes) == \
        ('FCNHead', channels[2], 2, 256, 1, False, 0.1, 150)
    assert aux.loss_decode == dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)


@pytest.mark.parametrize('size', sorted(ARCHS))
def test_optimisation_matches_official(size):
    cfg = _cfg(size)
    # upernet_mpvit_small_160k_ade20k.py l.34: AdamW, no parameter-wise rules; fp32 (no fp16
    # entry, mmseg 0.11 schedule_160k.py `optimizer_config = dict()`: no clipping)
    assert cfg.optim_wrapper == dict(
        type='OptimWrapper', clip_grad=None,
        optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01))
    # l.36-40: poly, power 1, min_lr 0, linear warm-up 1500 iterations from 1e-6, the warm-up
    # factor multiplying the poly lr (tests/test_ade20k_schedules.py steps it)
    assert cfg.param_scheduler == [
        dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1501),
        dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=160001, by_epoch=False)]
    # mmseg 0.11 schedule_160k.py: 160k iterations, evaluation and checkpoints every 16k
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=160000,
                                 val_interval=16000)
    assert cfg.default_hooks.checkpoint.interval == 16000
    # l.42-43: 8 GPUs x 2 images; the lr is for a total batch of 16
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    # no EMA, no extra hooks in the official configs
    assert not [h for h in cfg.get('custom_hooks', []) if 'EMA' in h['type']]  # no EMA


@pytest.mark.parametrize('size', sorted(ARCHS))
def test_data_and_test_protocol_match_official(size):
    ade20k_pipelines_match_mmseg_0x(_cfg(size))
