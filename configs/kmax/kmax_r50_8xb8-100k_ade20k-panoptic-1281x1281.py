# kMaX-DeepLab, ResNet-50, ADE20K panoptic: 100k iterations, 8 GPUs x 8 images (batch 64),
# 1281x1281 crops, scale jitter 0.5-2.0, AdamW lr 5e-4, no drop path in the transformer
# decoder, class thresholds 0.4 -- bytedance/kmax-deeplab configs/ade20k/panoptic_segmentation/
# kmax_r50.yaml. Paper: 42.3 PQ (1281x1281 inputs); official PyTorch release: 42.2 PQ.
_base_ = [
    '../_base_/models/kmax_r50.py', '../_base_/datasets/ade20k_panoptic.py',
    '../_base_/default_runtime.py'
]
max_iters = 100000
# Labels of the 100 thing classes (mmdense.datasets.ADE20K_PANOPTIC_THING_IDS).
ade20k_thing_class_ids = [
    7, 8, 10, 12, 14, 15, 18, 19, 20, 22, 23, 24, 27, 30, 31, 32, 33, 35, 36, 37, 38, 39, 41, 42,
    43, 44, 45, 47, 49, 50, 53, 55, 56, 57, 58, 62, 64, 65, 66, 67, 69, 70, 71, 72, 73, 74, 75,
    76, 78, 80, 81, 82, 83, 85, 86, 87, 88, 89, 90, 92, 93, 95, 97, 98, 102, 103, 104, 107, 108,
    110, 111, 112, 115, 116, 118, 119, 120, 121, 123, 124, 125, 126, 127, 129, 130, 132, 133,
    134, 135, 136, 137, 138, 139, 142, 143, 144, 146, 147, 148, 149
]
model = dict(
    decode_head=dict(num_classes=150, transformer_decoder=dict(drop_path_rate=0.0)),
    test_cfg=dict(thing_class_ids=ade20k_thing_class_ids, class_threshold_thing=0.4,
                  class_threshold_stuff=0.4))
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=False, begin=0, end=5001),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters + 1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3,
                    save_best='PQ', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
visualizer = dict(type='PanopticLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
train_dataloader = dict(batch_size=8)  # x 8 GPUs = 64
# The lr is for 64 images per iteration (SOLVER.IMS_PER_BATCH); `tools/train.py
# --auto-scale-lr` rescales it linearly to the actual GPUs x batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=64)
