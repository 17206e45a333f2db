"""DAT (v1) ADE20K configs against the official recipe, field by field.

DAT-Segmentation (LeapLabTHU) released only DAT++ configs; the v1 configs borrow them:
configs/dat/upn_{tiny,small,base}_160k_dp0{3,5,7}_lr6.py (UperNet) and
configs/dat/fpn_tiny_80k_dp04_lr2.py (Semantic FPN), their _base_/models/{upernet,fpn}_dat.py,
_base_/datasets/ade20k.py, and the mmseg 0.x default_runtime.py / schedule_160k.py.
configs/dat/README.md "Recipe vs official" lists the same fields with line numbers.
"""
import os.path as osp

import pytest
from mmengine.config import Config

from tests.test_recipe_mpvit import ade20k_pipelines_match_mmseg_0x

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
UPN = 'configs/dat/upernet_dat-{}_8xb2-160k_ade20k-512x512.py'
FPN = 'configs/dat/fpn_dat-t_8xb4-40k_ade20k-512x512.py'
NO_DECAY = {'relative_position_bias_table': dict(decay_mult=0.),
            'rpe_table': dict(decay_mult=0.), 'norm': dict(decay_mult=0.)}
SYNC_BN = dict(type='SyncBN', requires_grad=True)


def _cfg(path):
    return Config.fromfile(osp.join(REPO, path))


@pytest.mark.parametrize('size, arch, drop_path, channels, amp', [
    # upn_tiny_160k_dp03_lr6.py l.29 drop path 0.3, l.55-62 Fp16OptimizerHook
    ('t', 'tiny', 0.3, [96, 192, 384, 768], True),
    # upn_small_160k_dp05_lr6.py l.29 drop path 0.5, l.55-62 Fp16OptimizerHook
    ('s', 'small', 0.5, [96, 192, 384, 768], True),
    # upn_base_160k_dp07_lr6.py l.29 drop path 0.7, l.55-57 plain OptimizerHook (fp32)
    ('b', 'base', 0.7, [128, 256, 512, 1024], False),
])
def test_upernet_matches_official(size, arch, drop_path, channels, amp):
    cfg = _cfg(UPN.format(size))
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch, backbone.drop_path_rate) == ('DAT', arch, drop_path)
    # v1 ImageNet-1k weights (the DAT++ configs load DAT++ ones: deliberate, README)
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'pretrained/dat-{size}_in1k-224_mmdense.pth')
    # the DAT++ segmentation backbone normalises every output (like mmseg's Swin)
    assert backbone.out_norm is True
    head, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    # _base_/models/upernet_dat.py l.42-53: UPerHead, SyncBN, CE weight 1.0
    assert (head.type, head.in_channels, head.pool_scales, head.channels, head.dropout_ratio,
            head.num_classes, head.norm_cfg) == \
        ('UPerHead', channels, (1, 2, 3, 6), 512, 0.1, 150, SYNC_BN)
    assert head.loss_decode == dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
    # _base_/models/upernet_dat.py l.54-66: FCN auxiliary head on stage 3, weight 0.4
    assert (aux.type, aux.in_channels, aux.in_index, aux.channels, aux.num_convs,
            aux.concat_input, aux.dropout_ratio, aux.num_classes, aux.norm_cfg) == \
        ('FCNHead', channels[2], 2, 256, 1, False, 0.1, 150, SYNC_BN)
    assert aux.loss_decode == dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)
    assert cfg.model.test_cfg == dict(mode='whole')  # l.69

    wrapper = cfg.optim_wrapper
    # upn_*_160k_*_lr6.py l.42-47: AdamW 6e-5, wd 0.01, no decay on tables and norms
    assert wrapper.optimizer == dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                                     weight_decay=0.01)
    assert wrapper.paramwise_cfg == dict(custom_keys=NO_DECAY)
    # l.55-62 (T/S): Fp16OptimizerHook, dynamic loss scale, grad_clip=None; B: fp32
    if amp:
        assert (wrapper.type, wrapper.loss_scale) == ('AmpOptimWrapper', 'dynamic')
    else:
        assert wrapper.type == 'OptimWrapper' and 'loss_scale' not in wrapper
    assert wrapper.clip_grad is None
    # l.49-53: poly power 1 to 0, linear warm-up 1500 from 1e-6, multiplied on
    assert cfg.param_scheduler == [
        dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1501),
        dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=160001, by_epoch=False)]
    # mmseg 0.x schedule_160k.py: 160k iterations, evaluation/checkpoints every 16k
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=160000,
                                 val_interval=16000)
    assert cfg.default_hooks.checkpoint.interval == 16000
    # l.64-65: 8 GPUs x 2 images
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    assert not [h for h in cfg.get('custom_hooks', []) if 'EMA' in h['type']]  # no EMA
    ade20k_pipelines_match_mmseg_0x(cfg)


def test_semantic_fpn_matches_official():
    cfg = _cfg(FPN)
    backbone = cfg.model.backbone
    # fpn_tiny_80k_dp04_lr2.py l.30: drop path 0.4
    assert (backbone.arch, backbone.drop_path_rate, backbone.out_norm) == ('tiny', 0.4, True)
    # _base_/models/fpn_dat.py l.41-57: FPN neck (256 channels, 4 outputs), FPNHead 128
    assert cfg.model.neck == dict(type='FPN', in_channels=[96, 192, 384, 768],
                                  out_channels=256, num_outs=4)
    head = cfg.model.decode_head
    assert (head.type, head.in_channels, head.feature_strides, head.channels,
            head.dropout_ratio, head.num_classes, head.norm_cfg) == \
        ('FPNHead', [256] * 4, [4, 8, 16, 32], 128, 0.1, 150, SYNC_BN)
    assert head.loss_decode == dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
    assert 'auxiliary_head' not in cfg.model
    # l.39-45: AdamW lr 1e-4 * gpu_multiples (2), wd 1e-4, no decay on tables and norms,
    # `optimizer_config = dict()`: fp32, no clipping
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.optim_wrapper.get('clip_grad') is None
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999),
                                               weight_decay=1e-4)
    assert cfg.optim_wrapper.paramwise_cfg == dict(custom_keys=NO_DECAY)
    # l.47: poly power 0.9 to 0, no warm-up
    assert cfg.param_scheduler == [
        dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40001, by_epoch=False)]
    # l.49-51: max_iters 80000 // 2, checkpoints and evaluation every 8000 // 2
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=4000)
    assert cfg.default_hooks.checkpoint.interval == 4000
    # l.37 (8 GPUs) and its ade20k.py samples_per_gpu=4: batch 32
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=32)
    ade20k_pipelines_match_mmseg_0x(cfg)


def test_fpn_config_name_states_the_official_layout():
    assert osp.isfile(osp.join(REPO, FPN))
    assert not osp.exists(osp.join(REPO, 'configs/dat/fpn_dat-t_8xb4-80k_ade20k-512x512.py'))
