# UperNet + DAT-T on ADE20K, 160k iterations, 8 GPUs x 2 images (DAT paper: 45.5 mIoU).
# The DAT v1 segmentation recipe was never released: this borrows the DAT++ recipe of
# LeapLabTHU/DAT-Segmentation configs/dat/upn_tiny_160k_dp03_lr6.py (README "Recipe vs
# official"): AdamW lr 6e-5, weight decay 0.01 (none on position tables and norms, l.42-47),
# poly decay (power 1) to 0 over the 160k iterations with a linear warm-up factor multiplied on
# for the first 1500 (l.49-53), mixed precision with a dynamic loss scale and no gradient
# clipping (Fp16OptimizerHook, l.55-62), 8 GPUs x 2 images (l.64-65), drop path 0.3 (l.29).
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

# mmcv 1.x's Fp16OptimizerHook runs the segmentor's `auto_fp16` forward under
# torch.cuda.amp autocast with a dynamic GradScaler: AmpOptimWrapper (bf16 autocast on CPU).
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    clip_grad=None,
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
# lr 6e-5 is for 8 x 2 = 16 images per iteration; `tools/train.py --auto-scale-lr` rescales it
# linearly to the actual number of GPUs x batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
