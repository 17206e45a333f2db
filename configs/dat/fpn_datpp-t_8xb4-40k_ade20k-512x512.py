# Semantic FPN + DAT++-T on ADE20K, 40k iterations, 8 GPUs x 4 images (official: 48.4 mIoU,
# 48.8 multi-scale; the official README calls it "80K": mmseg's 80k-iteration FPN schedule at
# batch 16, halved in iterations and doubled in lr for 8 GPUs). Recipe of
# LeapLabTHU/DAT-Segmentation configs/dat/fpn_tiny_80k_dp04_lr2.py: drop path 0.4 (:30);
# AdamW lr 1e-4 * 2, weight decay 1e-4, none on the position tables and norms (:37-44); fp32
# (`optimizer_config = dict()`, :45); poly decay (power 0.9) to 0, no warm-up (:47);
# 80000 // 2 iterations, checkpoints and evaluation every 8000 // 2 (:49-51); 4 images per GPU
# (_base_/datasets/ade20k.py:36); no gradient checkpointing (_base_/models/fpn_dat.py:39).
_base_ = [
    '../_base_/models/fpn_datpp.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k.py'
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
        drop_path_rate=0.4,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[64, 128, 256, 512]),
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
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
train_dataloader = dict(batch_size=4)
