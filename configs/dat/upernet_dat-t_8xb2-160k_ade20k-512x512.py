# UperNet + DAT-T on ADE20K, 160k iterations, 8 GPUs x 2 images (DAT paper: 45.5 mIoU).
# Optimisation as the official segmentation configs (LeapLabTHU/DAT-Segmentation
# configs/dat/upn_*_160k_*_lr6.py): AdamW lr 6e-5, weight decay 0.01 (none on position tables
# and norms), 1500 linear warm-up iterations, then poly decay (power 1) to 0.
_base_ = [
    '../_base_/models/upernet_dat.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_160k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# The official ImageNet-1k DAT-T weights, converted with
#   python tools/model_converters/dat2mmdense.py dat_tiny_in1k_224.pth <this path>
checkpoint_file = 'pretrained/dat-t_in1k-224_mmdense.pth'
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
            'rpe_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
