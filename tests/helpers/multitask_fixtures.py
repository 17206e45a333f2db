"""Tiny NYUD-v2 and PASCAL-Context datasets in the real on-disk formats, for tests.

The writers produce exactly the layouts read by
:class:`~mmdense.datasets.NYUDv2MultiTaskDataset` and
:class:`~mmdense.datasets.PascalContextMultiTaskDataset` (PNG/JPEG images, ``.npy`` depth,
MATLAB ``.mat`` files written with ``scipy.io.savemat`` with the PASCAL-Context ``LabelMap``
and PASCAL-Part ``anno`` layouts). Labels are blocky so that every sample has several classes,
ignored pixels and boundaries, and a test can reason about them.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

#: PASCAL-Context ``LabelMap`` ids used by the fixture: the first four keep their normals
#: (NYUD-v2 shared classes), the last three do not.
PASCAL_NORMALS_KEPT_CLASSES = {'wall': 440, 'floor': 158, 'person': 284, 'table': 397}
PASCAL_NORMALS_DROPPED_CLASSES = {'sky': 360, 'grass': 187, 'tree': 420}

_PERSON_PARTS = ('head', 'hair', 'torso', 'neck', 'luarm', 'llarm', 'rhand', 'luleg', 'llleg',
                 'rfoot')


def _save_png(path: str, array: np.ndarray, palette: Sequence[int] | None = None) -> None:
    from PIL import Image

    img = Image.fromarray(array)
    if palette is not None:
        # an 'L' image becomes 'P' with its values kept as the palette indices
        img.putpalette(list(palette))
    img.save(path)


def _blocks(rng: np.random.Generator, size: tuple[int, int], values: Sequence,
            grid: tuple[int, int] = (2, 3)) -> np.ndarray:
    """A ``size`` map cut into ``grid`` blocks, block ``k`` filled with ``values[k]``."""
    h, w = size
    out = np.empty((h, w), dtype=np.asarray(values).dtype)
    rows = np.linspace(0, h, grid[0] + 1).astype(int)
    cols = np.linspace(0, w, grid[1] + 1).astype(int)
    k = 0
    for i in range(grid[0]):
        for j in range(grid[1]):
            out[rows[i]:rows[i + 1], cols[j]:cols[j + 1]] = values[k % len(values)]
            k += 1
    return out


def _random_normals(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Unit normals facing the camera (z > 0), encoded as uint8 RGB: v = (n + 1) / 2 * 255."""
    n = rng.normal(size=size + (3, ))
    n[..., 2] = np.abs(n[..., 2]) + 0.1
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.round((n + 1.) / 2. * 255.).astype(np.uint8)


def _boundaries(labels: np.ndarray) -> np.ndarray:
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def _write_split(path: str, ids: Sequence[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{i}\n' for i in ids))


def _check_args(num_train: int, num_val: int, size: Sequence[int]) -> tuple[int, int]:
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ValueError(f'need at least one sample, got num_train={num_train}, '
                         f'num_val={num_val}')
    h, w = (int(s) for s in size)
    if h < 8 or w < 8:
        raise ValueError(f'size must be at least 8x8, got {size}')
    return h, w


def write_nyud_fixture(root: str | Path,
                       num_train: int = 2,
                       num_val: int = 1,
                       size: Sequence[int] = (24, 32),
                       seed: int = 0) -> Path:
    """Write a tiny NYUD-v2 dataset in the ATRC/DeMT layout.

    Every sample has a random RGB image, a 2x3-block ``segmentation`` with 6 different values
    where the top-left block is 0 (unlabeled) and the others are classes 1..40, ``depth`` in
    [0.5, 10] m with the bottom-right block 0 (invalid), random unit ``normals`` and ``edge``
    = 255 on the segmentation boundaries.

    Args:
        root: the dataset directory to create (pass it as ``data_root``).
        num_train: samples in ``gt_sets/train.txt``.
        num_val: samples in ``gt_sets/val.txt``.
        size: image ``(H, W)``.
        seed: random seed.

    Returns:
        Path: ``root``.
    """
    h, w = _check_args(num_train, num_val, size)
    root = Path(root)
    for folder in ('images', 'segmentation', 'depth', 'normals', 'edge', 'gt_sets'):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f'{i:06d}' for i in range(num_train + num_val)]
    for sample_id in ids:
        _save_png(str(root / 'images' / f'{sample_id}.png'),
                  rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        classes = rng.choice(np.arange(1, 41), size=5, replace=False)
        seg = _blocks(rng, (h, w), np.concatenate([[0], classes]).astype(np.uint8))
        _save_png(str(root / 'segmentation' / f'{sample_id}.png'), seg)
        depth = rng.uniform(0.5, 10., (h, w)).astype(np.float32)
        depth[h // 2:, 2 * w // 3:] = 0.
        np.save(str(root / 'depth' / f'{sample_id}.npy'), depth)
        _save_png(str(root / 'normals' / f'{sample_id}.png'), _random_normals(rng, (h, w)))
        _save_png(str(root / 'edge' / f'{sample_id}.png'),
                  (_boundaries(seg) * 255).astype(np.uint8))
    _write_split(str(root / 'gt_sets' / 'train.txt'), ids[:num_train])
    _write_split(str(root / 'gt_sets' / 'val.txt'), ids[num_train:])
    return root


def write_label_map_mat(path: str | Path, label_map: np.ndarray) -> None:
    """Write a PASCAL-Context ``trainval/<id>.mat`` file: ``LabelMap`` (uint16, 459 classes)."""
    from scipy.io import savemat

    savemat(str(path), {'LabelMap': np.asarray(label_map, dtype=np.uint16)})


def write_pascal_part_mat(path: str | Path, image_name: str,
                          objects: Sequence[Mapping]) -> None:
    """Write a PASCAL-Part annotation file (``human_parts/<id>.mat``).

    The layout is the one of the PASCAL-Part release: a struct ``anno`` with fields
    ``imname`` and ``objects``; ``objects`` is a 1xN struct array with fields ``class``,
    ``class_ind``, ``mask`` and ``parts``; ``parts`` is a 1xK struct array with fields
    ``part_name`` and ``mask``.

    Args:
        path: the ``.mat`` file.
        image_name: value of ``imname``.
        objects: dicts with ``cls`` (class name), ``class_ind`` (VOC index, 15 = person),
            ``mask`` (HxW) and ``parts`` (mapping part name -> HxW mask; may be empty).
    """
    from scipy.io import savemat

    obj_dtype = [('class', 'O'), ('class_ind', 'O'), ('mask', 'O'), ('parts', 'O')]
    part_dtype = [('part_name', 'O'), ('mask', 'O')]
    obj_array = np.zeros((1, len(objects)), dtype=obj_dtype)
    for k, obj in enumerate(objects):
        parts = obj.get('parts', {})
        part_array = np.zeros((1, len(parts)), dtype=part_dtype)
        for j, (name, mask) in enumerate(parts.items()):
            part_array[0, j] = (name, np.asarray(mask, dtype=np.uint8))
        obj_array[0, k] = (obj['cls'], np.array([[float(obj['class_ind'])]]),
                           np.asarray(obj['mask'], dtype=np.uint8), part_array)
    anno = np.zeros((1, 1), dtype=[('imname', 'O'), ('objects', 'O')])
    anno[0, 0] = (image_name, obj_array)
    savemat(str(path), {'anno': anno})


def _pascal_objects(rng: np.random.Generator, pattern: int, size: tuple[int, int]) -> list:
    h, w = size
    animal = np.zeros((h, w), dtype=np.uint8)
    animal[h // 2:, :w // 3] = 1
    animal_obj = dict(cls='dog', class_ind=12, mask=animal,
                      parts={'head': animal * (np.arange(h)[:, None] < 3 * h // 4)})
    if pattern == 1:  # no person: human parts are ignored for the whole image
        return [animal_obj]
    if pattern == 2:  # a person without part annotation only: ignored too
        return [dict(cls='person', class_ind=15, mask=animal, parts={}), animal_obj]
    # two people with parts, the second overlapping the first
    objects = [animal_obj]
    for top, left in ((0, w // 3), (h // 4, w // 2)):
        person = np.zeros((h, w), dtype=np.uint8)
        person[top:top + h // 2, left:left + w // 3] = 1
        ys, xs = np.nonzero(person)
        names = rng.choice(_PERSON_PARTS, size=4, replace=False)
        parts = {}
        # horizontal stripes of the person box, one part each
        bounds = np.linspace(ys.min(), ys.max() + 1, len(names) + 1).astype(int)
        for name, y0, y1 in zip(names, bounds[:-1], bounds[1:]):
            mask = np.zeros((h, w), dtype=np.uint8)
            mask[y0:y1, xs.min():xs.max() + 1] = 1
            parts[str(name)] = mask
        objects.append(dict(cls='person', class_ind=15, mask=person, parts=parts))
    return objects


def write_pascal_fixture(root: str | Path,
                         num_train: int = 2,
                         num_val: int = 1,
                         size: Sequence[int] = (24, 32),
                         seed: int = 0) -> Path:
    """Write a tiny PASCAL-Context multi-task dataset in the ASTMT/ATRC/DeMT layout.

    Per sample: a random JPEG image; a palette PNG ``semseg/pascal-context`` of 2x3 blocks with
    classes in 0..20; a ``LabelMap`` of 2x3 blocks mixing classes whose normals are kept
    (:data:`PASCAL_NORMALS_KEPT_CLASSES`) and dropped (:data:`PASCAL_NORMALS_DROPPED_CLASSES`);
    random distilled normals; a saliency PNG of blocks with values 0, 127, 128, 255 (so the
    0.5 threshold matters); a PASCAL-Part file cycling through three cases by sample index:
    ``i % 3 == 0`` two overlapping people with parts and a dog, ``1`` a dog only (human parts
    fully ignored), ``2`` a person without parts and a dog (also ignored).

    Args:
        root: the dataset directory to create (pass it as ``data_root``).
        num_train: samples in ``ImageSets/Context/train.txt``.
        num_val: samples in ``ImageSets/Context/val.txt``.
        size: image ``(H, W)``.
        seed: random seed.

    Returns:
        Path: ``root``.
    """
    from PIL import Image

    from mmdense.datasets.base_multitask import bitwise_palette

    h, w = _check_args(num_train, num_val, size)
    root = Path(root)
    folders = ('JPEGImages', 'semseg/pascal-context', 'human_parts', 'normals_distill',
               'sal_distill', 'pascal-context/trainval', 'ImageSets/Context')
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    palette = [c for rgb in bitwise_palette(256) for c in rgb]
    kept = list(PASCAL_NORMALS_KEPT_CLASSES.values())
    dropped = list(PASCAL_NORMALS_DROPPED_CLASSES.values())
    rng = np.random.default_rng(seed)
    ids = [f'2008_{i:06d}' for i in range(num_train + num_val)]
    for index, sample_id in enumerate(ids):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            str(root / 'JPEGImages' / f'{sample_id}.jpg'), quality=95)
        classes = np.concatenate([[0], rng.choice(np.arange(1, 21), size=5, replace=False)])
        _save_png(str(root / 'semseg' / 'pascal-context' / f'{sample_id}.png'),
                  _blocks(rng, (h, w), classes.astype(np.uint8)), palette=palette)
        label_ids = rng.permutation(kept[:3] + dropped[:3]).astype(np.uint16)
        write_label_map_mat(root / 'pascal-context' / 'trainval' / f'{sample_id}.mat',
                            _blocks(rng, (h, w), label_ids))
        _save_png(str(root / 'normals_distill' / f'{sample_id}.png'),
                  _random_normals(rng, (h, w)))
        sal = _blocks(rng, (h, w), rng.permutation([0, 127, 128, 255, 200, 30]).astype(np.uint8))
        _save_png(str(root / 'sal_distill' / f'{sample_id}.png'), sal)
        write_pascal_part_mat(root / 'human_parts' / f'{sample_id}.mat', sample_id,
                              _pascal_objects(rng, index % 3, (h, w)))
    _write_split(str(root / 'ImageSets' / 'Context' / 'train.txt'), ids[:num_train])
    _write_split(str(root / 'ImageSets' / 'Context' / 'val.txt'), ids[num_train:])
    return root
