# Semantic FPN + DAT-T on ADE20K, 80k iterations, 8 GPUs x 4 images.
# AdamW lr 2e-4, weight decay 1e-4 (none on position tables and norms), poly decay (power 0.9)
# to 0, no warm-up, as LeapLabTHU/DAT-Segmentation configs/dat/fpn_tiny_80k_dp04_lr2.py.
_base_ = [
    '../_base_/models/fpn_dat.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# python tools/model_converters/dat2mmdense.py dat_tiny_in1k_224.pth <this path>
checkpoint_file = 'pretrained/dat-t_in1k-224_mmdense.pth'
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]),
    decode_head=dict(num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
            'rpe_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
# lr(t) = 2e-4 * (1 - t / 80000) ** 0.9, as mmcv 1.x's poly policy: `end` is one past the
# last step, where mmengine's PolyLR reaches its final value.
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=80001, by_epoch=False)
]
train_dataloader = dict(batch_size=4)
