"""Class-wise IoU for label maps (semantic segmentation, human parts).

Per image only the four class-area vectors of :meth:`mmseg.evaluation.IoUMetric.intersect_and_union`
are kept, so gathering results over ranks moves ``4 * num_classes`` numbers per image.
"""
from collections.abc import Sequence

import numpy as np
import torch
from mmseg.evaluation.metrics import IoUMetric


def segmentation_areas(pred: torch.Tensor, gt: torch.Tensor, num_classes: int,
                       ignore_index: int = 255) -> np.ndarray:
    """Class areas of one image.

    Args:
        pred: predicted labels, any shape.
        gt: ground-truth labels of the same shape; ``ignore_index`` marks unlabeled pixels.
        num_classes: number of classes.
        ignore_index: label excluded from every count.

    Returns:
        ``(4, num_classes)`` float64 array: intersection, union, predicted and ground-truth
        pixel counts per class.
    """
    areas = IoUMetric.intersect_and_union(pred.long(), gt.long(), num_classes, ignore_index)
    return torch.stack(areas).double().cpu().numpy()


def segmentation_metrics(areas: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """mIoU, pixel accuracy and per-class IoU from summed class areas.

    Classes absent from both prediction and ground truth over the whole set have no IoU (NaN)
    and are left out of the mean, as in MMSegmentation. (The official DeMT ``MeanIoU`` counts
    them as 0; the two agree whenever every class occurs, as on the NYUD-v2 and PASCAL-Context
    validation sets.)

    Args:
        areas: ``(4, num_classes)`` sums of :func:`segmentation_areas` over the images.
        class_names: one name per class, used in the per-class keys.

    Returns:
        ``mIoU``, ``mAcc`` and ``aAcc`` and ``IoU.<class>`` for every class, in percent.
    """
    intersect, union, _, label = areas
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = intersect / union
        acc = intersect / label
        all_acc = intersect.sum() / label.sum()
    out = {
        'mIoU': _nanmean(iou) * 100,
        'mAcc': _nanmean(acc) * 100,
        'aAcc': float(all_acc) * 100,
    }
    for name, value in zip(class_names, iou):
        out[f'IoU.{name}'] = float(value) * 100
    return out


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float('nan')
