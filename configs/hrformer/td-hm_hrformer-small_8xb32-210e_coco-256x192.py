# HRFormer-S top-down heatmap pose estimation on COCO, 256x192 (paper: 74.0 AP on val2017 with
# the official person boxes). Schedule of the official hrt_small_coco_256x192.py: AdamW 5e-4,
# weight decay 0.01 (none on the relative position tables), 500-iteration linear warm-up, 210
# epochs with x0.1 at 170 and 200, 8 GPUs x 32 images, drop path 0.1.
_base_ = [
    '../_base_/pose_runtime.py', '../_base_/datasets/coco_keypoints.py',
    '../_base_/models/hrformer-s.py'
]

train_cfg = dict(max_epochs=210, val_interval=10)

# fp16 = dict(loss_scale='dynamic') of the official config: mixed precision with a dynamic loss
# scale (bf16 autocast when tools/train.py runs without CUDA)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))

param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=210, milestones=[170, 200], gamma=0.1, by_epoch=True)
]
# the learning rate above is for 8 x 32 images; `--auto-scale-lr` rescales it
auto_scale_lr = dict(base_batch_size=256)

# checkpoint_config interval=5, evaluation interval=10 with key_indicator='AP'
default_hooks = dict(checkpoint=dict(interval=5, save_best='coco/AP', rule='greater'))

codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        # mmdense's OfficialHRFormer (MMPose's HRFormer with the official options), mmdense scope;
        # the HRFormer-S architecture and ImageNet weights come from _base_/models/hrformer-s.py
        _scope_='mmdense',
        norm_cfg=norm_cfg,
        extra=dict(
            drop_path_rate=0.1,
            # the official pose code keeps the relative position tables but never adds them
            with_rpe=False,
            stage4=dict(multiscale_output=False))),
    head=dict(
        type='HeatmapHead',
        in_channels=32,
        out_channels=17,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))

# The official MMPose 0.x pipeline: TopDownRandomFlip(0.5), TopDownHalfBodyTransform(
# num_joints_half_body=8, prob_half_body=0.3), TopDownGetRandomScaleRotation(rot_factor=40,
# scale_factor=0.5), TopDownAffine, TopDownGenerateTarget(sigma=2). MMPose 0.x picks the upper
# body when randn() < 0.5 (probability 0.6915) and either half only with more than 2 visible
# keypoints; it draws scale and rotation from *clipped* normals and never shifts the box
# (MMPose 1.x's RandomBBoxTransform shifts with probability 0.3 and truncates).
half_body = dict(
    type='RandomHalfBody',
    min_total_keypoints=9,
    min_upper_keypoints=3,
    min_lower_keypoints=3,
    padding=1.5,
    prob=0.3,
    upper_prioritized_prob=0.6914624612740131)
# mmdense's transform, built in the mmdense scope
scale_rotation = dict(
    type='RandomBBoxScaleRotation',
    _scope_='mmdense',
    scale_factor=0.5,
    rotate_factor=40,
    rotate_prob=0.6)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    half_body,
    scale_rotation,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
