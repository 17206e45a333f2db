"""PASCAL-Context multi-task dataset (semseg, human parts, saliency, normals, boundaries)."""
from __future__ import annotations

import os.path as osp
from collections.abc import Iterable

from mmdense.registry import DATASETS

from .base_multitask import BaseMultiTaskDataset, bitwise_palette
from .pascal_context_meta import (
    NORMALS_VALID_CLASSES,
    PERSON_CLASS_IND,
    VOC_CLASSES,
    human_part_classes,
    human_part_ids,
)


@DATASETS.register_module()
class PascalContextMultiTaskDataset(BaseMultiTaskDataset):
    """PASCAL-Context for multi-task dense prediction (the ASTMT/ATRC/DeMT benchmark).

    ``data_root`` (``PASCALContext/`` of ``PASCALContext.tar.gz``, same layout as
    ``PASCAL_MT.tgz``; see ``tools/dataset_converters/pascal_context_mt.py``) holds::

        JPEGImages/<id>.jpg                 RGB image (4998 train / 5105 val, <= 500x500)
        semseg/pascal-context/<id>.png      21 VOC classes, 0 = background
        semseg/VOC12/<id>.png               optional; preferred when present (official rule)
        human_parts/<id>.mat                PASCAL-Part ``anno`` struct
        normals_distill/<id>.png            distilled normals, n = 2 * v / 255 - 1
        sal_distill/<id>.png                distilled saliency, 0..255
        pascal-context/trainval/<id>.mat    459-class ``LabelMap``
        ImageSets/Context/{train,val}.txt   sample ids

    Decoded ground truth (see :data:`~mmdense.structures.TASK_SPECS`), as the official loader:

    * ``semseg``: the PNG as is (uint8, 21 classes);
    * ``human_parts``: the parts of every person merged into ``num_human_parts`` groups
      (:data:`~mmdense.datasets.pascal_context_meta.HUMAN_PART_GROUPS`), 0 = background; an
      image with no annotated person part is ignored entirely (255);
    * ``sal``: ``v / 255 > 0.5`` as uint8 {0, 1};
    * ``normals``: ``2 * v / 255 - 1``, zeroed (= ignored) outside the PASCAL-Context classes
      shared with NYUD-v2 (:data:`~mmdense.datasets.pascal_context_meta.NORMALS_VALID_CLASSES`,
      shipped with mmdense; the official code derives it from ``db_info/nyu_classes.json`` and
      ``db_info/context_classes.json``);
    * ``edge``: where the 3x3 Laplacian of ``LabelMap`` is non-zero, thinned to one pixel
      (uint8 {0, 1}), the training target of the official loader. With ``test_mode=True``
      (validation and test) it is instead SEISM's ground truth
      ``bwmorph(seg2bmap(LabelMap), 'thin', Inf)``, which the published odsF scores against
      (see :func:`~mmdense.datasets.label_formats.decode_pascal_boundary_seism`).

    The official DeMT training pipeline, in mmdense transforms::

        LoadImageFromFile, LoadMultiTaskAnnotations,
        MultiTaskRandomResize(ratio_range=(0.5, 2.0)),
        MultiTaskRandomCrop(crop_size=(512, 512), cat_max_ratio=0.75),
        MultiTaskRandomFlip(prob=0.5), PhotoMetricDistortion,
        MultiTaskPad(size=(512, 512), center=True), IgnoreEmptyHumanParts,
        PackMultiTaskInputs

    (the official code re-applies the "no person part -> ignore" rule after cropping, which is
    what ``IgnoreEmptyHumanParts`` does). The official loader also keeps ``semseg`` loaded when
    it is not a task, for the ``cat_max_ratio`` crop; here the crop ratio is only enforced when
    ``semseg`` is among ``tasks``.

    Args:
        data_root: the ``PASCALContext`` directory.
        split: ``'train'`` or ``'val'`` (any ``ImageSets/Context/<split>.txt``).
        tasks: subset of ``('semseg', 'human_parts', 'sal', 'normals', 'edge')``.
        num_human_parts: number of merged part groups: 1, 4, 6 (benchmark default) or 14.
        normals_valid_classes: 459-class ``LabelMap`` ids on which normals are kept.
            Default: :data:`~mmdense.datasets.pascal_context_meta.NORMALS_VALID_CLASSES`.
        **kwargs: see :class:`BaseMultiTaskDataset`.
    """

    TASKS = ('semseg', 'human_parts', 'sal', 'normals', 'edge')
    SPLIT_DIR = osp.join('ImageSets', 'Context')
    METAINFO = dict(
        classes=VOC_CLASSES,
        palette=bitwise_palette(len(VOC_CLASSES)),
        # maxDist of the SEISM boundary evaluation used by ASTMT/ATRC/DeMT on PASCAL-Context
        edge_tolerance=0.0075)

    def __init__(self,
                 data_root: str,
                 num_human_parts: int = 6,
                 normals_valid_classes: Iterable[int] | None = None,
                 metainfo: dict | None = None,
                 **kwargs) -> None:
        self.num_human_parts = num_human_parts
        self._part_ids = human_part_ids(num_human_parts)
        if normals_valid_classes is None:
            normals_valid_classes = NORMALS_VALID_CLASSES.values()
        self.normals_valid_classes = tuple(sorted(int(c) for c in normals_valid_classes))
        metainfo = dict(metainfo or {})
        parts = human_part_classes(num_human_parts)
        metainfo.setdefault('human_parts_classes', parts)
        metainfo.setdefault('human_parts_palette', bitwise_palette(len(parts)))
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    def _semseg_path(self, sample_id: str) -> str:
        # Official rule: a VOC12 label, when the release has one, wins over pascal-context.
        voc12 = osp.join(self.data_root, 'semseg', 'VOC12', sample_id + '.png')
        if osp.isfile(voc12):
            return voc12
        return osp.join(self.data_root, 'semseg', 'pascal-context', sample_id + '.png')

    def parse_sample(self, sample_id: str) -> dict:
        root = self.data_root
        label_map = osp.join(root, 'pascal-context', 'trainval', sample_id + '.mat')
        files = dict(
            semseg=lambda: dict(path=self._semseg_path(sample_id)),
            human_parts=lambda: dict(path=osp.join(root, 'human_parts', sample_id + '.mat')),
            sal=lambda: dict(path=osp.join(root, 'sal_distill', sample_id + '.png')),
            normals=lambda: dict(path=osp.join(root, 'normals_distill', sample_id + '.png'),
                                 label_map_path=label_map),
            edge=lambda: dict(path=label_map))
        return dict(img_path=osp.join(root, 'JPEGImages', sample_id + '.jpg'),
                    label_files={task: files[task]() for task in self.tasks})

    def label_decoder(self, task: str) -> dict:
        # Which file format holds each task is this dataset's own knowledge; what the task is
        # (channels, ignore value, flips, metrics) is its TaskSpec.
        decoders = dict(
            semseg=lambda: dict(type='png_label'),
            human_parts=lambda: dict(type='pascal_human_parts', part_ids=self._part_ids,
                                     person_class=PERSON_CLASS_IND),
            sal=lambda: dict(type='png_binary', threshold=0.5),
            normals=lambda: dict(type='pascal_normals',
                                 valid_classes=self.normals_valid_classes),
            # Train on the official loader's target; evaluate against SEISM's ground truth.
            edge=lambda: dict(
                type='pascal_boundary_seism' if self.test_mode else 'pascal_boundary'))
        if task not in decoders:
            raise ValueError(f'{type(self).__name__}: no decoder for task {task!r}')
        return decoders[task]()
