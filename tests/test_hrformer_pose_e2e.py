"""End to end: train an (shrunken) HRFormer pose config with tools/train.py on a tiny COCO
keypoints dataset, then evaluate the checkpoint with tools/test.py."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from tests.helpers.run_tool import run_tool

CONFIG = 'configs/hrformer/td-hm_hrformer-small_8xb32-210e_coco-256x192.py'
KEYPOINTS = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
    'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle'
]
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
            [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
# a standing person in a unit box (x, y): head, arms, legs
POSE = np.array([[.5, .08], [.55, .05], [.45, .05], [.6, .08], [.4, .08], [.7, .25], [.3, .25],
                 [.8, .4], [.2, .4], [.85, .55], [.15, .55], [.62, .55], [.38, .55],
                 [.65, .75], [.35, .75], [.66, .95], [.34, .95]])


def write_coco_keypoints(root: str, num_train: int = 4, num_val: int = 2, size=(120, 160)):
    """COCO-format person keypoints: images, one annotated person per image, categories."""
    rng = np.random.default_rng(0)
    h, w = size
    os.makedirs(osp.join(root, 'annotations'))
    ann_id = 1
    for split, num in (('train2017', num_train), ('val2017', num_val)):
        os.makedirs(osp.join(root, split))
        images, annotations = [], []
        for i in range(num):
            img = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
            bw, bh = int(rng.integers(40, 60)), int(rng.integers(80, 110))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            img[y0:y0 + bh, x0:x0 + bw] = (200, 160, 120)
            image_id = 1000 * (split == 'val2017') + i + 1
            name = f'{image_id:012d}.jpg'
            Image.fromarray(img).save(osp.join(root, split, name))
            joints = POSE * (bw, bh) + (x0, y0)
            visible = np.full(17, 2)
            visible[3 + i % 2] = 0  # one occluded ear, as in real annotations
            keypoints = np.concatenate([joints, visible[:, None]], axis=1)
            keypoints[visible == 0, :2] = 0
            images.append(dict(id=image_id, file_name=name, height=h, width=w))
            annotations.append(
                dict(id=ann_id, image_id=image_id, category_id=1, iscrowd=0,
                     bbox=[x0, y0, bw, bh], area=float(bw * bh * 0.6),
                     num_keypoints=int((visible > 0).sum()),
                     keypoints=[round(float(v), 2) for v in keypoints.reshape(-1)],
                     segmentation=[[x0, y0, x0 + bw, y0, x0 + bw, y0 + bh, x0, y0 + bh]]))
            ann_id += 1
        categories = [dict(id=1, name='person', supercategory='person', keypoints=KEYPOINTS,
                           skeleton=SKELETON)]
        with open(osp.join(root, 'annotations', f'person_keypoints_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return root


def data_options(root: str) -> list[str]:
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={root}/', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False', f'{loader}.batch_size=2']
    for loader in ('val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.bbox_file=None']  # ground-truth person boxes
    ann = f'{root}/annotations/person_keypoints_val2017.json'
    opts += [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    return opts


# a two-module HRFormer with 8/16/32/64 channels: the S architecture, shrunken
SMALL_MODEL = ['model.backbone.init_cfg=None', 'model.backbone.norm_cfg.type=BN',
               'model.head.in_channels=8'] + [
    f'model.backbone.extra.{key}' for key in (
        'stage1.num_channels=(16,)', 'stage1.num_blocks=(1,)',
        'stage2.num_channels=(8,16)', 'stage2.num_blocks=(1,1)',
        'stage3.num_modules=1', 'stage3.num_channels=(8,16,32)', 'stage3.num_blocks=(1,1,1)',
        'stage4.num_modules=1', 'stage4.num_channels=(8,16,32,64)',
        'stage4.num_blocks=(1,1,1,1)')
]


@pytest.mark.slow
def test_train_then_test_hrformer_pose(tmp_path):
    root = write_coco_keypoints(str(tmp_path / 'coco'))
    work_dir = str(tmp_path / 'work')
    opts = data_options(root) + SMALL_MODEL + [
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1'
    ]
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options', *opts,
                    timeout=900)
    log = proc.stdout + proc.stderr
    assert 'coco/AP' in log, log[-3000:]
    checkpoints = glob.glob(osp.join(work_dir, 'epoch_1.pth'))
    assert checkpoints, os.listdir(work_dir)

    proc = run_tool('tools/test.py', CONFIG, checkpoints[0], '--work-dir', work_dir,
                    '--cfg-options', *(data_options(root) + SMALL_MODEL), timeout=900)
    log = proc.stdout + proc.stderr
    metrics = [line for line in log.splitlines() if 'coco/AP:' in line]
    assert metrics, log[-3000:]
    # CocoMetric reports AP, AP .5, AP .75, AP (M), AP (L), AR and friends, each in [0, 1]
    for name in ('coco/AP:', 'coco/AP .5:', 'coco/AR:'):
        value = float(metrics[-1].split(name)[1].split()[0])
        assert 0.0 <= value <= 1.0
