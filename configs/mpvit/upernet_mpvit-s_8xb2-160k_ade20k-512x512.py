# UperNet + MPViT-S on ADE20K, 160k iterations, 8 GPUs x 2 images (MPViT paper: 48.3 mIoU).
# Recipe of youngwanLEE/MPViT semantic_segmentation/configs/mpvit/upernet/
# upernet_mpvit_small_160k_ade20k.py (mmseg 0.11 base files): AdamW lr 6e-5, weight decay 0.01
# on every parameter (l.34), poly decay (power 1) to 0 over the 160k iterations with a linear
# warm-up factor multiplied on for the first 1500 (l.36-40), fp32, no gradient clipping, 8 GPUs x
# 2 images (l.42-43), drop path 0.2 and SyncBN with trained statistics in the backbone (l.21-23).
# Every field against the official value: README "Recipe vs official".
_base_ = [
    '../_base_/models/upernet_mpvit.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_160k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# The official config loads https://dl.dropbox.com/s/1o07eti5rgve1i6/mpvit_small_mm.pth (l.15),
# the ImageNet-1k MPViT-S backbone; converted with
#   python tools/model_converters/mpvit2mmdense.py mpvit_small_mm.pth <this path>
checkpoint_file = 'pretrained/mpvit-s_in1k-224_mmdense.pth'
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[128, 216, 288, 288], num_classes=150),
    auxiliary_head=dict(in_channels=288, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    clip_grad=None,
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01))
# The official mmcv 1.x `lr_config` (policy='poly', warmup='linear', warmup_iters=1500,
# warmup_ratio=1e-6, power=1.0, min_lr=0) gives, at iteration t (0-based),
#   lr(t) = 6e-5 * (1 - t / 160000) * (1e-6 + (1 - 1e-6) * t / 1500)   for t < 1500,
#   lr(t) = 6e-5 * (1 - t / 160000)                                     afterwards:
# the warm-up factor multiplies a poly decay counted from iteration 0. mmengine chains
# schedulers that overlap by multiplying their factors, and a scheduler over [begin, end)
# reaches its final value at step `end - 1`, hence `end` = 1500 + 1 and 160000 + 1.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1501),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=160001, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
# lr 6e-5 is for 8 x 2 = 16 images per iteration; `tools/train.py --auto-scale-lr` rescales it
# linearly to the actual number of GPUs x batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
