"""A tiny semantic-segmentation dataset and config for end-to-end tests of the tools."""
from __future__ import annotations

import os
import os.path as osp
import textwrap

import numpy as np
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_seg_fixture(root: str, num_train: int = 4, num_val: int = 2, size=(32, 48),
                      seed: int = 0) -> str:
    """Write ``img_dir/{train,val}/*.png`` and ``ann_dir/{train,val}/*.png`` (3 classes).

    Each image is a left/right split whose label is a function of the colour, so a model can
    learn it in a few iterations.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    for split, num in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, 'img_dir', split), exist_ok=True)
        os.makedirs(osp.join(root, 'ann_dir', split), exist_ok=True)
        for i in range(num):
            label = np.zeros((h, w), np.uint8)
            cut = int(rng.integers(w // 4, 3 * w // 4))
            label[:, cut:] = 1
            label[h // 2:, : w // 3] = 2
            colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], np.uint8)
            img = colours[label] + rng.integers(0, 20, (h, w, 3)).astype(np.uint8)
            Image.fromarray(img).save(osp.join(root, 'img_dir', split, f'{i:03d}.png'))
            Image.fromarray(label).save(osp.join(root, 'ann_dir', split, f'{i:03d}.png'))
    return root


def write_seg_config(path: str, data_root: str, max_iters: int = 4, interval: int = 2,
                     extra: str = '') -> str:
    """Write a tiny mmseg FCN config (ResNet-18 with 8 base channels) on the fixture."""
    text = textwrap.dedent(f'''
    _base_ = [{osp.join(REPO, 'configs/_base_/default_runtime.py')!r}]
    norm_cfg = dict(type='BN', requires_grad=True)
    data_preprocessor = dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(32, 32))
    model = dict(
        type='EncoderDecoder',
        data_preprocessor=data_preprocessor,
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8,
                      num_stages=4, out_indices=(3, ), norm_cfg=norm_cfg),
        decode_head=dict(type='FCNHead', in_channels=64, in_index=0, channels=16,
                         num_convs=1, concat_input=False, dropout_ratio=0.0, num_classes=3,
                         norm_cfg=norm_cfg, align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))
    metainfo = dict(classes=('red', 'green', 'blue'),
                    palette=[[200, 30, 30], [30, 200, 30], [30, 30, 200]])
    dataset = dict(type='BaseSegDataset', data_root={data_root!r}, metainfo=metainfo,
                   img_suffix='.png', seg_map_suffix='.png')
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomCrop', crop_size=(32, 32)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs'),
    ]
    train_dataloader = dict(
        batch_size=2, num_workers=0,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(**dataset, data_prefix=dict(img_path='img_dir/train',
                                                 seg_map_path='ann_dir/train'),
                     pipeline=train_pipeline))
    val_dataloader = dict(
        batch_size=1, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(**dataset, data_prefix=dict(img_path='img_dir/val',
                                                 seg_map_path='ann_dir/val'),
                     pipeline=test_pipeline))
    test_dataloader = val_dataloader
    val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
    test_evaluator = val_evaluator
    optim_wrapper = dict(type='OptimWrapper',
                         optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
    param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-4, begin=0, end={max_iters},
                            by_epoch=False)]
    train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters}, val_interval={interval})
    val_cfg = dict(type='ValLoop')
    test_cfg = dict(type='TestLoop')
    default_hooks = dict(
        timer=dict(type='IterTimerHook'),
        logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
        param_scheduler=dict(type='ParamSchedulerHook'),
        checkpoint=dict(type='CheckpointHook', by_epoch=False, interval={interval}),
        sampler_seed=dict(type='DistSamplerSeedHook'),
        visualization=dict(type='SegVisualizationHook'))
    randomness = dict(seed=0)
    ''') + textwrap.dedent(extra)
    with open(path, 'w') as f:
        f.write(text)
    return path
