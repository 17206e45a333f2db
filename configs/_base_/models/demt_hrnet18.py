# DeMT with DeMT's HRNet18-S backbone (hrnetv2_w18_small: channels 18/36/72/144 at strides
# 4/8/16/32), tasks of NYUD-v2. Dataset configs override the tasks.
# SyncBN: the official trainer's sync_batchnorm (config yamls, `trainer: sync_batchnorm: True`).
norm_cfg = dict(type='SyncBN', requires_grad=True)
# The official ImageNet mean/std on RGB (yangyangxu0/DeMT src/data/pl_data.py:36). The padded
# pixels are 0 after normalisation (the mean colour) and the padding is centred, as the
# official PadImage (src/data/transforms.py:109-121), with no rounding to a multiple of 32:
# each dataset config sets `size` to its crop.
data_preprocessor = dict(
    type='MultiTaskDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    pad_mode='center')
model = dict(
    type='MultiTaskEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='HRNet',
        norm_cfg=norm_cfg,
        norm_eval=False,
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(2, ),
                        num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(2, 2),
                        num_channels=(18, 36)),
            stage3=dict(num_modules=3, num_branches=3, block='BASIC', num_blocks=(2, 2, 2),
                        num_channels=(18, 36, 72)),
            stage4=dict(num_modules=2, num_branches=4, block='BASIC', num_blocks=(2, 2, 2, 2),
                        num_channels=(18, 36, 72, 144))),
        # = https://download.openmmlab.com/pretrain/third_party/hrnetv2_w18_small-b5a04e21.pth,
        # the official model_urls (src/model/backbones/hrnet.py:11).
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w18_small')),
    decode_head=dict(
        type='DeMTHead',
        in_channels=[18, 36, 72, 144],
        tasks=['semseg', 'depth', 'normals', 'edge'],
        task_channels=dict(semseg=40, depth=1, normals=3, edge=1),
        channels=256,
        num_heads=4,
        num_mixer_layers=1,
        norm_cfg=norm_cfg),
    # DeMT's task weights: semseg 1, human parts 2, saliency 5, normals 10, depth 1, edge 50
    # (src/model/builder.py:84-130).
    losses=dict(
        semseg=dict(type='DenseCrossEntropyLoss', loss_weight=1.0),
        depth=dict(type='MaskedL1Loss', loss_weight=1.0),
        normals=dict(type='MaskedL1Loss', normalize=True, loss_weight=10.0),
        edge=dict(type='BalancedBinaryCrossEntropyLoss', pos_weight=0.95, loss_weight=50.0)),
    test_cfg=dict(mode='whole'))
