# DeMT's schedule (yangyangxu0/DeMT): SGD momentum 0.9 on every parameter, weight decay 5e-4
# on all of them, no gradient clipping (src/model/pl_model.py:110-111, 118-128); lr 1e-3 and
# 40k iterations at a total batch of 8 (config/t-nyud/swin/baselinemt_tiny_demt.yaml:4,11-13,
# likewise every DeMT yaml); poly decay, power 0.9, to 0, stepped every iteration, no warm-up
# (pl_model.py:113-114). The official code has no DeMT HRNet-18 yaml; configs/demt/README.md
# says why HRNet-18 also uses 1e-3. Full precision (no AMP), as PyTorch-Lightning's default.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0, begin=0, end=40000, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4000, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='MultiTaskVisualizationHook'))
# Linear scaling rule reference: lr 1e-3 is for 8 images per iteration.
auto_scale_lr = dict(enable=False, base_batch_size=8)
