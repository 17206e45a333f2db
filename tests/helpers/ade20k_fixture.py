"""A tiny ADE20K tree in the layout of ``ADEChallengeData2016.zip``, for end-to-end tests.

    ADEChallengeData2016/
        images/{training,validation}/ADE_{train,val}_%08d.jpg
        annotations/{training,validation}/ADE_{train,val}_%08d.png   (uint8, 0 = other, 1..150)

which is what mmseg's ``ADE20KDataset`` (``img_suffix='.jpg'``, ``seg_map_suffix='.png'``,
``reduce_zero_label=True``) and ``configs/_base_/datasets/ade20k.py`` read.
"""
from __future__ import annotations

import os
import os.path as osp

import numpy as np
from PIL import Image

# A few ADE20K classes (1-based, as stored in the PNGs): wall, floor, ceiling, person, and the
# last class (150, flag), so the top of the label range is exercised too.
CLASSES = (1, 4, 6, 13, 150)
SPLITS = (('training', 'train'), ('validation', 'val'))


# A fixed colour per stored label (0..150), so a model can tell the classes apart.
COLOURS = np.random.default_rng(150).integers(30, 226, (151, 3)).astype(np.int16)


def write_ade20k_fixture(root: str, num_train: int = 4, num_val: int = 2,
                         size: tuple[int, int] = (96, 128), seed: int = 0) -> str:
    """Write the ADE20K tree under ``root`` and return its ``ADEChallengeData2016`` path.

    Every image is split into a left and a right class region (split column drawn at random);
    its bottom-left corner is "other" (0), which ``reduce_zero_label`` turns into the ignore
    index 255. Pixel colours follow the class, plus noise, and are stored as JPEG as in the
    real release.

    Args:
        root: directory to write into (created if missing).
        num_train: number of training images.
        num_val: number of validation images.
        size: image size ``(H, W)``.
        seed: seed of the split columns, classes and noise.

    Returns:
        str: ``root/ADEChallengeData2016``, the configs' ``data_root``.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    data_root = osp.join(root, 'ADEChallengeData2016')
    for split, prefix in SPLITS:
        img_dir = osp.join(data_root, 'images', split)
        ann_dir = osp.join(data_root, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(1, (num_train if prefix == 'train' else num_val) + 1):
            left, right = rng.choice(CLASSES, 2, replace=False)
            label = np.full((h, w), left, np.uint8)
            label[:, int(rng.integers(w // 4, 3 * w // 4)):] = right
            label[3 * h // 4:, : w // 4] = 0
            img = COLOURS[label]
            img = np.clip(img + rng.integers(-10, 11, img.shape), 0, 255).astype(np.uint8)
            name = f'ADE_{prefix}_{i:08d}'
            Image.fromarray(img).save(osp.join(img_dir, name + '.jpg'), quality=95)
            Image.fromarray(label).save(osp.join(ann_dir, name + '.png'))
    return data_root
