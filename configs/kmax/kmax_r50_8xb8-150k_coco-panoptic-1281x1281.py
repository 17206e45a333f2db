# kMaX-DeepLab, ResNet-50, COCO panoptic: 150k iterations, 8 GPUs x 8 images (batch 64),
# 1281x1281 crops, AdamW lr 5e-4, weight decay 0.05, backbone lr x0.1, 5k linear warm-up then
# poly (0.9) decay, mixed precision -- bytedance/kmax-deeplab configs/coco/panoptic_segmentation/
# kmax_r50.yaml (l.65-77), trained there on 32 GPUs x 2 images (README: 4 machines x 8 GPUs);
# the 32xb2 config has that layout. Paper: 53.0 PQ; official PyTorch release: 53.3 PQ.
# Every field against the official value: README "Recipe vs official".
_base_ = [
    '../_base_/models/kmax_r50.py', '../_base_/datasets/coco_panoptic.py',
    '../_base_/default_runtime.py'
]
max_iters = 150000
optim_wrapper = dict(optimizer=dict(lr=5e-4))
# TF2WarmupPolyLR: lr = base * warmup(t) during warm-up and base * (1 - t / T)^0.9 after it;
# the two schedulers overlap so that the poly factor is counted from iteration 0 (mmengine's
# schedulers reach their final factor at end - 1, hence the + 1).
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
