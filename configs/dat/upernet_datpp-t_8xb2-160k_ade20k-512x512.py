# UperNet + DAT++-T on ADE20K, 160k iterations, 8 GPUs x 2 images (official: 49.4 mIoU,
# 50.3 multi-scale). Recipe of LeapLabTHU/DAT-Segmentation configs/dat/upn_tiny_160k_dp03_lr6.py:
# drop path 0.3 (:29); AdamW lr 6e-5, betas (0.9, 0.999), weight decay 0.01, none on the
# position tables and norms (:42-47); poly decay (power 1) to 0 over 160k iterations with a
# 1500-iteration linear warm-up from 1e-6 (:49-53); fp16 mixed precision with a dynamic loss
# scale (Fp16OptimizerHook, :54-62); 2 images per GPU (:65); gradient checkpointing
# (_base_/models/upernet_dat.py:40). The 'rpb' tables of the neighbourhood attention keep the weight decay,
# as in the official custom_keys.
_base_ = [
    '../_base_/models/upernet_datpp.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_160k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# The official ImageNet-1k DAT++-T weights (LeapLabTHU/DAT), converted with
#   python tools/model_converters/dat2mmdense.py dat_pp_tiny_in1k_224.pth <this path>
checkpoint_file = 'pretrained/datpp-t_in1k-224_mmdense.pth'
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.3,
        with_cp=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
            'rpe_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
# The official mmcv 1.x `lr_config` (policy='poly', warmup='linear', warmup_iters=1500,
# warmup_ratio=1e-6, power=1.0, min_lr=0) multiplies the warm-up factor onto a poly decay
# counted from iteration 0, so both schedulers start at 0 (mmengine multiplies overlapping
# schedulers); `end` is one past the last step, where each reaches its final value:
#   lr(t) = 6e-5 * (1 - t / 160000) * min(1, 1e-6 + (1 - 1e-6) * t / 1500).
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1501),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=160001, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
