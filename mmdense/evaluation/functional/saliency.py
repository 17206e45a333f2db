"""Saliency detection: maxF and mIoU (PASCAL-Context protocol of DeMT / ATRC / ASTMT).

``maxF`` follows the official DeMT ``MaxF``: the foreground probability is binarised with
``prob >= t`` for ``t`` in ``0.05, 0.10, ..., 0.95``; true, predicted and actual positives are
pooled over the whole set per threshold; ``F = (1 + b2) P R / (b2 P + R)`` with ``b2 = 0.3``
(0 where undefined) and the best threshold is reported.

``mIoU`` follows ASTMT / MTI-Net's ``eval_sal``: the foreground IoU of ``prob > 0.5`` is
computed per image (1 when both prediction and ground truth are empty) and averaged over images.
Ground-truth pixels equal to ``ignore_index`` are left out of both.
"""
import numpy as np
import torch


def saliency_thresholds(step: float = 0.05) -> torch.Tensor:
    """The maxF thresholds of the official code: ``torch.arange(step, 1, step)``."""
    return torch.arange(step, 1, step)


def saliency_counts(prob: torch.Tensor, gt: torch.Tensor, thresholds: torch.Tensor,
                    iou_threshold: float = 0.5, ignore_index: int = 255) -> dict[str, np.ndarray]:
    """Per-image counts for :func:`saliency_metrics`.

    Args:
        prob: foreground probability in [0, 1], any shape.
        gt: ground truth of the same shape: 1 salient, 0 background, ``ignore_index`` unlabeled.
        thresholds: 1-D thresholds of the maxF curve.
        iou_threshold: probability above which a pixel counts as salient for the IoU.
        ignore_index: unlabeled ground-truth value.

    Returns:
        dict with ``counts``: ``(3, K)`` int64 true / predicted / actual positives per threshold,
        and ``iou``: the image's foreground IoU (float64 scalar array).
    """
    valid = gt != ignore_index
    prob = prob[valid].float()
    target = gt[valid] == 1
    above = prob[None, :] >= thresholds.to(prob)[:, None]
    counts = torch.stack([
        (above & target).sum(dim=1),
        above.sum(dim=1),
        target.sum().expand(len(thresholds)),
    ])
    fg = prob > iou_threshold
    union = (fg | target).sum()
    iou = (fg & target).sum().double() / union if union > 0 else torch.tensor(1.0)
    return dict(counts=counts.cpu().numpy().astype(np.int64),
                iou=np.asarray(float(iou), dtype=np.float64))


def saliency_metrics(counts: np.ndarray, ious: np.ndarray,
                     beta_squared: float = 0.3) -> dict[str, float]:
    """``maxF`` and ``mIoU`` (percent) from summed counts and per-image IoUs.

    Args:
        counts: ``(3, K)`` sums of the ``counts`` of :func:`saliency_counts`.
        ious: per-image ``iou`` values.
        beta_squared: weight of precision in the F-measure.

    Returns:
        dict with ``maxF`` and ``mIoU``.
    """
    tp, predicted, actual = counts.astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        precision = tp / predicted
        recall = tp / actual
        fscore = (1 + beta_squared) * precision * recall / (beta_squared * precision + recall)
    fscore = np.nan_to_num(fscore, nan=0.0)
    miou = float(np.mean(ious)) * 100 if len(ious) else float('nan')
    return dict(maxF=float(fscore.max()) * 100, mIoU=miou)
