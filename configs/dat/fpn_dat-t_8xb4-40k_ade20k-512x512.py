# Semantic FPN + DAT-T on ADE20K, 40k iterations, 8 GPUs x 4 images (batch 32).
# As LeapLabTHU/DAT-Segmentation configs/dat/fpn_tiny_80k_dp04_lr2.py (a DAT++ config; the DAT v1
# recipe was never released, see README "Recipe vs official"): its "80k" is mmseg's 80k at
# 4 GPUs x 4 images; with 8 GPUs it sets `gpu_multiples = 2` (l.37), lr 1e-4 * 2 (l.39),
# max_iters 80000 // 2 (l.49) and checkpoints/evaluation every 8000 // 2 (l.50-51).
# AdamW lr 2e-4, weight decay 1e-4 (none on position tables and norms, l.40-43), poly decay
# (power 0.9) to 0 with no warm-up (l.47), fp32 with no gradient clipping (`optimizer_config =
# dict()`, l.45), drop path 0.4 (l.30); 4 images per GPU (its ade20k.py `samples_per_gpu=4`).
_base_ = [
    '../_base_/models/fpn_dat.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# The official ImageNet-1k DAT-T weights (LeapLabTHU/DAT release), converted with
#   python tools/model_converters/dat2mmdense.py dat_tiny_in1k_224.pth <this path>
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
# lr(t) = 2e-4 * (1 - t / 40000) ** 0.9, as mmcv 1.x's poly policy: `end` is one past the
# last step, where mmengine's PolyLR reaches its final value.
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40001, by_epoch=False)
]
train_dataloader = dict(batch_size=4, num_workers=4)
# lr 2e-4 is for 8 x 4 = 32 images per iteration; `tools/train.py --auto-scale-lr` rescales it
# linearly to the actual number of GPUs x batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=32)
