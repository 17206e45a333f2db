"""Panoptic quality (PQ, SQ, RQ) as computed by the COCO panoptic API.

mmdet's PQ accumulation is not reused, although mmdet is a dependency:

* mmdet 3.3's ``pq_compute_single_core``/``pq_compute_multi_core``
  (``mmdet/evaluation/functional/panoptic_utils.py``), which its ``CocoPanopticMetric`` calls,
  keep the statistics in ``panopticapi.evaluation.PQStat`` and raise a ``RuntimeError``
  without the ``panopticapi`` package (``panoptic_utils.py:52-56``). The official
  cocodataset/panopticapi is not on PyPI (mmdet's message asks for a git install) and is no
  mmdense dependency.
* They read ground truth and predictions as RGB-encoded PNG files named by a COCO json, with the
  json's category ids; ``CocoPanopticMetric`` writes every prediction to a temporary folder to
  use them. Here both maps are in memory (``label + instance_id * INSTANCE_OFFSET``, contiguous
  labels), and the per-image statistics are small arrays that mmengine gathers across ranks.

The matching rules are the COCO panoptic API's (``pq_compute_single_core`` of panopticapi,
repeated in mmdet's file above): IoU > 0.5 within a class, void removed from the union, crowd
regions of the class and void absorbing unmatched predictions; the tests check them on
hand-counted cases.
"""
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmdense.registry import METRICS
from mmdense.structures.panoptic import INSTANCE_OFFSET


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x[0] if x.ndim == 3 else x


def pq_stats_single(gt_ids: np.ndarray, gt_segments: Sequence[dict], pred: np.ndarray,
                    num_classes: int, instance_offset: int = INSTANCE_OFFSET) -> np.ndarray:
    """Match one image's segments and count per-class PQ statistics (COCO panoptic API).

    A prediction matches a ground-truth segment of the same class when their IoU exceeds 0.5;
    void pixels (id 0) are removed from the prediction's area in the union. Unmatched
    non-crowd ground-truth segments are false negatives. An unmatched prediction is a false
    positive unless more than half of it lies on void or on a crowd region of its class.

    Args:
        gt_ids: (H, W) ground-truth segment ids, 0 = void.
        gt_segments: ``id``, ``category`` (label) and ``iscrowd`` of every ground-truth
            segment.
        pred: (H, W) ``label + instance_id * instance_offset``, ``num_classes`` for void.
        num_classes: number of classes.
        instance_offset: see ``pred``.

    Returns:
        np.ndarray: (num_classes, 4) per-class ``[iou_sum, tp, fp, fn]``.
    """
    if gt_ids.shape != pred.shape:
        raise ValueError(f'ground truth {gt_ids.shape} and prediction {pred.shape} differ in '
                         'size; predictions must be at the original image size')
    stats = np.zeros((num_classes, 4), dtype=np.float64)
    gt_ids = gt_ids.astype(np.int64)
    pred = pred.astype(np.int64)
    pred_labels = pred % instance_offset
    if pred_labels.min() < 0 or pred_labels.max() > num_classes:
        raise ValueError(f'predicted labels must lie in [0, {num_classes}] ({num_classes} = '
                         f'void), got [{pred_labels.min()}, {pred_labels.max()}]')

    # Segment indices: ground truth keeps its ids (0 = void); predictions get 1..P (0 = void).
    pred_values, pred_index = np.unique(pred, return_inverse=True)
    pred_index = pred_index.reshape(pred.shape) + 1
    pred_void_values = pred_values % instance_offset == num_classes
    for i in np.nonzero(pred_void_values)[0]:
        pred_index[pred_index == i + 1] = 0
    pred_category = {i + 1: int(v % instance_offset) for i, v in enumerate(pred_values)
                     if not pred_void_values[i]}
    pred_area = {}
    idx, cnt = np.unique(pred_index, return_counts=True)
    for i, c in zip(idx.tolist(), cnt.tolist()):
        if i:
            pred_area[i] = c

    gt_info = {int(s['id']): s for s in gt_segments}
    gt_area = dict.fromkeys(gt_info, 0)
    idx, cnt = np.unique(gt_ids, return_counts=True)
    for i, c in zip(idx.tolist(), cnt.tolist()):
        if i == 0:
            continue
        if i not in gt_info:
            raise KeyError(f'segment id {i} of the ground-truth map is not in segments_info')
        gt_area[i] = c

    # Intersections of every (gt, pred) pair, through a joint id.
    joint = gt_ids * (len(pred_values) + 1) + pred_index
    joint_ids, joint_cnt = np.unique(joint, return_counts=True)
    intersections = {(int(j) // (len(pred_values) + 1), int(j) % (len(pred_values) + 1)): int(c)
                     for j, c in zip(joint_ids, joint_cnt)}

    gt_matched, pred_matched = set(), set()
    for (g, p), inter in intersections.items():
        if g == 0 or p == 0:
            continue
        info = gt_info[g]
        if info.get('iscrowd', 0) or int(info['category']) != pred_category[p]:
            continue
        union = pred_area[p] + gt_area[g] - inter - intersections.get((0, p), 0)
        iou = inter / union
        if iou > 0.5:
            cat = int(info['category'])
            stats[cat, 0] += iou
            stats[cat, 1] += 1
            gt_matched.add(g)
            pred_matched.add(p)

    crowd_by_category = {}
    for g, info in gt_info.items():
        if g in gt_matched:
            continue
        if info.get('iscrowd', 0):
            crowd_by_category[int(info['category'])] = g
            continue
        stats[int(info['category']), 3] += 1

    for p, cat in pred_category.items():
        if p in pred_matched:
            continue
        ignored = intersections.get((0, p), 0)
        if cat in crowd_by_category:
            ignored += intersections.get((crowd_by_category[cat], p), 0)
        if ignored / pred_area[p] > 0.5:
            continue
        stats[cat, 2] += 1
    return stats


def pq_summary(stats: np.ndarray, class_ids: Sequence[int]) -> dict[str, float]:
    """Average PQ/SQ/RQ over the classes of ``class_ids`` that occur (tp + fp + fn > 0)."""
    pq = sq = rq = 0.0
    n = 0
    for c in class_ids:
        iou, tp, fp, fn = stats[c]
        if tp + fp + fn == 0:
            continue
        n += 1
        pq += iou / (tp + 0.5 * fp + 0.5 * fn)
        sq += iou / tp if tp else 0.0
        rq += tp / (tp + 0.5 * fp + 0.5 * fn)
    if n == 0:
        return dict(pq=0.0, sq=0.0, rq=0.0, n=0)
    return dict(pq=pq / n, sq=sq / n, rq=rq / n, n=n)


@METRICS.register_module()
class PanopticQualityMetric(BaseMetric):
    """Panoptic quality of ``pred_panoptic_seg`` against ``gt_panoptic_seg``.

    Expects data samples with ``gt_panoptic_seg.sem_seg`` (segment ids at the original image
    size, 0 = void), ``segments_info`` (``id``, ``category``, ``iscrowd``) and
    ``pred_panoptic_seg.sem_seg`` (``label + instance_id * INSTANCE_OFFSET``, ``num_classes``
    = void), as produced by ``LoadPanopticSegAnnotations``/``PackPanopticInputs`` and
    ``KMaXDeepLab``. Per-image statistics are gathered across ranks before averaging.

    Args:
        num_classes: number of classes (default: ``len(dataset_meta['classes'])``).
        thing_class_ids: labels of thing classes (default: from ``dataset_meta``).
        classwise: also return per-class PQ/SQ/RQ (``PQ/<class>``...).
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: metric name prefix.
    """

    default_prefix: str | None = None

    def __init__(self,
                 num_classes: int | None = None,
                 thing_class_ids: Sequence[int] | None = None,
                 classwise: bool = False,
                 collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.thing_class_ids = thing_class_ids
        self.classwise = classwise

    def _num_classes(self) -> int:
        if self.num_classes is not None:
            return self.num_classes
        if self.dataset_meta and self.dataset_meta.get('classes'):
            return len(self.dataset_meta['classes'])
        raise ValueError('PanopticQualityMetric needs num_classes or dataset_meta["classes"]')

    def _things(self, num_classes: int) -> list[int]:
        if self.thing_class_ids is not None:
            return [int(c) for c in self.thing_class_ids]
        meta = self.dataset_meta or {}
        if meta.get('thing_class_ids') is not None:
            return [int(c) for c in meta['thing_class_ids']]
        if meta.get('thing_classes') is not None and meta.get('classes') is not None:
            return [i for i, c in enumerate(meta['classes']) if c in set(meta['thing_classes'])]
        return list(range(num_classes))

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        num_classes = self._num_classes()
        for sample in data_samples:
            gt = _to_numpy(sample['gt_panoptic_seg']['sem_seg'])
            pred = _to_numpy(sample['pred_panoptic_seg']['sem_seg'])
            self.results.append(
                pq_stats_single(gt, sample.get('segments_info', []), pred, num_classes))

    def compute_metrics(self, results: list) -> dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        num_classes = self._num_classes()
        stats = np.sum(results, axis=0) if results else np.zeros((num_classes, 4))
        things = self._things(num_classes)
        stuff = [c for c in range(num_classes) if c not in set(things)]
        summary = OrderedDict()
        for name, ids in (('All', range(num_classes)), ('Things', things), ('Stuff', stuff)):
            summary[name] = pq_summary(stats, ids)
        lines = ['', f'{"":8s}{"PQ":>8s}{"SQ":>8s}{"RQ":>8s}{"#cls":>6s}']
        for name, s in summary.items():
            lines.append(f'{name:8s}{100 * s["pq"]:8.2f}{100 * s["sq"]:8.2f}'
                         f'{100 * s["rq"]:8.2f}{s["n"]:6d}')
        print_log('\n'.join(lines), logger=logger)

        metrics = OrderedDict()
        for name, suffix in (('All', ''), ('Things', '_th'), ('Stuff', '_st')):
            for key in ('pq', 'sq', 'rq'):
                metrics[key.upper() + suffix] = round(100 * summary[name][key], 3)
        if self.classwise:
            classes = (self.dataset_meta or {}).get('classes') or [str(i) for i in
                                                                   range(num_classes)]
            for c in range(num_classes):
                s = pq_summary(stats, [c])
                if s['n']:
                    for key in ('pq', 'sq', 'rq'):
                        metrics[f'{key.upper()}/{classes[c]}'] = round(100 * s[key], 3)
        return metrics
