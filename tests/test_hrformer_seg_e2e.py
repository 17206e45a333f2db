"""End to end: train a (shrunken) HRFormer + OCR Cityscapes config with tools/train.py on a tiny
dataset in the Cityscapes layout, then evaluate the checkpoint with tools/test.py."""
from __future__ import annotations

import os
import os.path as osp
import textwrap

import numpy as np
import pytest
from PIL import Image

from tests.helpers.run_tool import run_tool
from tests.helpers.seg_fixture import REPO

CONFIG = osp.join(REPO, 'configs/hrformer/ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py')


def write_cityscapes_layout(root: str, size=(75, 150)) -> str:
    """leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and the gtFine labelTrainIds maps."""
    rng = np.random.default_rng(0)
    h, w = size
    for split, num in (('train', 2), ('val', 1)):
        for kind in ('leftImg8bit', 'gtFine'):
            os.makedirs(osp.join(root, kind, split, 'aachen'))
        for i in range(num):
            label = np.full((h, w), 255, np.uint8)  # ignore
            label[:h // 2] = 10  # sky
            label[h // 2:, :w // 2] = 0  # road
            label[h // 2:, w // 2:] = 13  # car
            colours = {255: (0, 0, 0), 10: (70, 130, 180), 0: (128, 64, 128), 13: (0, 0, 142)}
            img = np.zeros((h, w, 3), np.uint8)
            for k, c in colours.items():
                img[label == k] = c
            img = np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)
            stem = f'aachen_{i:06d}_000019'
            Image.fromarray(img).save(
                osp.join(root, 'leftImg8bit', split, 'aachen', f'{stem}_leftImg8bit.png'))
            Image.fromarray(label).save(
                osp.join(root, 'gtFine', split, 'aachen', f'{stem}_gtFine_labelTrainIds.png'))
    return root


def write_config(path: str, data_root: str) -> str:
    """The HRFormer-S OCR Cityscapes config with a shrunken model and small crops."""
    text = textwrap.dedent(f'''
    _base_ = [{CONFIG!r}]
    crop_size = (68, 100)
    channels = [8, 16, 32, 64]
    model = dict(
        data_preprocessor=dict(size=crop_size),
        backbone=dict(
            init_cfg=None,
            norm_cfg=dict(type='BN', requires_grad=True),
            extra=dict(
                stage1=dict(num_blocks=(1, ), num_channels=(16, )),
                stage2=dict(num_blocks=(1, 1), num_channels=(8, 16), num_heads=[1, 2]),
                stage3=dict(num_modules=1, num_blocks=(1, 1, 1), num_channels=(8, 16, 32),
                            num_heads=[1, 2, 2]),
                stage4=dict(num_modules=1, num_blocks=(1, 1, 1, 1),
                            num_channels=(8, 16, 32, 64), num_heads=[1, 2, 2, 4]))),
        decode_head=[
            dict(_base_.model.decode_head[0], in_channels=channels, channels=16,
                 norm_cfg=dict(type='BN', requires_grad=True)),
            dict(_base_.model.decode_head[1], in_channels=channels, channels=16,
                 ocr_channels=8, norm_cfg=dict(type='BN', requires_grad=True)),
        ])
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomResize', scale=(150, 75), ratio_range=(0.8, 1.2), keep_ratio=True),
        dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(150, 75), keep_ratio=True),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs'),
    ]
    train_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False,
        dataset=dict(data_root={data_root!r}, pipeline=train_pipeline))
    val_dataloader = dict(
        num_workers=0, persistent_workers=False,
        dataset=dict(data_root={data_root!r}, pipeline=test_pipeline))
    test_dataloader = val_dataloader
    train_cfg = dict(max_iters=2, val_interval=2)
    default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
    ''')
    with open(path, 'w') as f:
        f.write(text)
    return path


@pytest.mark.slow
def test_train_then_test_hrformer_ocr(tmp_path):
    root = write_cityscapes_layout(str(tmp_path / 'cityscapes'))
    config = write_config(str(tmp_path / 'ocrnet_hrformer_tiny.py'), root)
    work_dir = str(tmp_path / 'work')
    proc = run_tool('tools/train.py', config, '--work-dir', work_dir, timeout=900)
    log = proc.stdout + proc.stderr
    assert 'mIoU' in log, log[-3000:]
    checkpoint = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(checkpoint), os.listdir(work_dir)

    proc = run_tool('tools/test.py', config, checkpoint, '--work-dir', work_dir, timeout=900)
    log = proc.stdout + proc.stderr
    lines = [line for line in log.splitlines() if 'mIoU:' in line]
    assert lines, log[-3000:]
    miou = float(lines[-1].split('mIoU:')[1].split()[0])
    assert 0.0 <= miou <= 100.0
