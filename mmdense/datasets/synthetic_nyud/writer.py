"""Writing a synthetic dataset in the NYUD-v2 multi-task layout."""
import json
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np
from PIL import Image

from mmdense.datasets.nyud_multitask import NYUD_CLASSES

from .render import intrinsics, render_sample

DEFAULT_SIZE = (96, 128)


def encode_normals(normals: np.ndarray) -> np.ndarray:
    """(H, W, 3) float normals to the RGB uint8 encoding ``round((n + 1) / 2 * 255)``."""
    return np.clip(np.round((normals + 1.0) * 0.5 * 255.0), 0, 255).astype(np.uint8)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def write_dataset(out_dir: str, num_train: int = 200, num_val: int = 50,
                  size: Sequence[int] = DEFAULT_SIZE, seed: int = 0) -> list[str]:
    """Render and write the dataset. Returns the names written (train first, then val)."""
    if num_train < 0 or num_val < 0:
        raise ValueError(f'--num-train and --num-val must be >= 0, got {num_train}, {num_val}')
    height, width = (int(s) for s in size)
    if height < 8 or width < 8:
        raise ValueError(f'--size must be at least 8 x 8 pixels, got {height} x {width}')
    total = num_train + num_val
    digits = max(4, len(str(max(total - 1, 0))))
    names = [f'{i:0{digits}d}' for i in range(total)]
    for sub in ('images', 'segmentation', 'depth', 'normals', 'edge', 'gt_sets'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    for i, name in enumerate(names):
        sample = render_sample(sample_rng(seed, i), height, width)
        Image.fromarray(sample['image'], 'RGB').save(osp.join(out_dir, 'images', name + '.png'))
        Image.fromarray(sample['semseg'], 'L').save(
            osp.join(out_dir, 'segmentation', name + '.png'))
        np.save(osp.join(out_dir, 'depth', name + '.npy'), sample['depth'])
        Image.fromarray(encode_normals(sample['normals']), 'RGB').save(
            osp.join(out_dir, 'normals', name + '.png'))
        Image.fromarray(sample['edge'] * np.uint8(255), 'L').save(
            osp.join(out_dir, 'edge', name + '.png'))
    for split, split_names in (('train', names[:num_train]), ('val', names[num_train:])):
        with open(osp.join(out_dir, 'gt_sets', f'{split}.txt'), 'w') as f:
            f.write(''.join(n + '\n' for n in split_names))
    f, cx, cy = intrinsics(height, width)
    meta = dict(
        generator='tools/misc/make_synthetic_nyud.py', seed=seed, size=[height, width],
        num_train=num_train, num_val=num_val,
        intrinsics=dict(fx=f, fy=f, cx=cx, cy=cy, pixel_centers='(u + 0.5, v + 0.5)'),
        depth='z-depth in metres, 0 = invalid',
        normals='camera frame: x right, y up, z towards the viewer; PNG = round((n+1)/2*255)',
        segmentation='0 = unlabeled, k = NYU-40 class k', classes=list(NYUD_CLASSES))
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=2)
    return names
