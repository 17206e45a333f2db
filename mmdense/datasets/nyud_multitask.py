"""NYUD-v2 multi-task dataset (semantic segmentation, depth, surface normals, boundaries)."""
from __future__ import annotations

import os.path as osp

from mmdense.registry import DATASETS

from .base_multitask import BaseMultiTaskDataset, bitwise_palette

#: The 40-class NYUD-v2 labelling of Gupta et al. (CVPR 2013); label ``i`` of the decoded
#: ``gt_semseg`` is ``NYUD_CLASSES[i]`` (the on-disk value is ``i + 1``, 0 = unlabeled). Names
#: are spelled as in the NYU release ("refridgerator").
NYUD_CLASSES = ('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window',
                'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain',
                'dresser', 'pillow', 'mirror', 'floor mat', 'clothes', 'ceiling', 'books',
                'refridgerator', 'television', 'paper', 'towel', 'shower curtain', 'box',
                'whiteboard', 'person', 'night stand', 'toilet', 'sink', 'lamp', 'bathtub', 'bag',
                'otherstructure', 'otherfurniture', 'otherprop')


@DATASETS.register_module()
class NYUDv2MultiTaskDataset(BaseMultiTaskDataset):
    """NYUD-v2 for multi-task dense prediction, in the layout of the ATRC/DeMT release.

    ``data_root`` (``NYUDv2/`` of ``NYUDv2.tar.gz``; ``tools/dataset_converters/nyud_v2.py``
    also converts the ``NYUD_MT`` archive) holds::

        images/<id>.png         RGB image (795 train / 654 val, 425x560)
        segmentation/<id>.png   40 classes as 1..40, 0 = unlabeled
        depth/<id>.npy          float depth in metres, 0 = invalid
        normals/<id>.png        RGB-encoded normals: n = 2 * v / 255 - 1
        edge/<id>.png           boundaries, 0 / 255
        gt_sets/{train,val}.txt sample ids

    Decoded ground truth (see :data:`~mmdense.structures.TASK_SPECS`):

    * ``semseg``: uint8, 0 (unlabeled) -> 255, ``v`` -> ``v - 1``, so 40 classes ``0..39``;
    * ``depth``: float32 metres, 0 stays 0 (= invalid);
    * ``normals``: float32 ``(H, W, 3)``, ``2 * v / 255 - 1``; a zero vector would be ignored
      (8-bit PNGs cannot encode one, so every pixel is valid in this release);
    * ``edge``: uint8 {0, 1} (``v / 255 > 0.5``).

    The official DeMT training pipeline (``src/data/pl_data.py``) is, in mmdense transforms::

        LoadImageFromFile, LoadMultiTaskAnnotations,
        MultiTaskRandomResize(ratio_range=(0.5, 2.0)),
        MultiTaskRandomCrop(crop_size=(425, 560), cat_max_ratio=0.75),
        MultiTaskRandomFlip(prob=0.5), PhotoMetricDistortion,
        MultiTaskPad(size=(425, 560), center=True), PackMultiTaskInputs

    Args:
        data_root: the ``NYUDv2`` directory.
        split: ``'train'`` or ``'val'`` (any ``gt_sets/<split>.txt``).
        tasks: subset of ``('semseg', 'depth', 'normals', 'edge')``, in the wanted order.
        **kwargs: see :class:`BaseMultiTaskDataset`.
    """

    TASKS = ('semseg', 'depth', 'normals', 'edge')
    SPLIT_DIR = 'gt_sets'
    METAINFO = dict(
        classes=NYUD_CLASSES,
        palette=bitwise_palette(len(NYUD_CLASSES), skip_black=True),
        # maxDist of the SEISM boundary evaluation used by ASTMT/ATRC/DeMT on NYUD-v2
        edge_tolerance=0.011)

    _FOLDERS = dict(semseg=('segmentation', '.png'), depth=('depth', '.npy'),
                    normals=('normals', '.png'), edge=('edge', '.png'))
    _DECODERS = dict(
        semseg=dict(type='png_label', zero_is_ignore=True),
        depth=dict(type='npy_depth'),
        normals=dict(type='png_normals'),
        edge=dict(type='png_binary', threshold=0.5))

    def parse_sample(self, sample_id: str) -> dict:
        label_files = {}
        for task in self.tasks:
            folder, suffix = self._FOLDERS[task]
            label_files[task] = dict(path=osp.join(self.data_root, folder, sample_id + suffix))
        return dict(img_path=osp.join(self.data_root, 'images', sample_id + '.png'),
                    label_files=label_files)

    def label_decoder(self, task: str) -> dict:
        return dict(self._DECODERS[task])
