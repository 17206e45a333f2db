"""Saliency detection: maxF, maxmIoU and mIoU (PASCAL-Context protocols of DeMT / ATRC / ASTMT).

``maxF`` follows the official DeMT / ATRC ``MaxF`` (``src/data/metrics.py``), the saliency number
DeMT and ATRC report: the foreground probability is binarised with ``prob >= t`` for ``t`` in
``0.05, 0.10, ..., 0.95``; true, predicted and actual positives are pooled over the whole set per
threshold; ``F = (1 + b2) P R / (b2 P + R)`` with ``b2 = 0.3`` (0 where undefined) and the best
threshold is reported.

``maxmIoU`` is what ASTMT's and MTI-Net's ``eval_sal`` report as saliency ``mIoU`` (MTI-Net's
Delta_m and model selection use it): the probability is saved as an 8-bit PNG (rounded down to
1/255 steps, in float32), binarised with ``png / 255 > t`` for the 15 thresholds
``numpy.linspace(0.2, 0.9, 15)``; the foreground IoU of each image (1 when prediction and ground
truth are both empty) is averaged over the images per threshold, and the best threshold's mean
is reported.

``mIoU`` is the same per-image mean IoU at the single threshold ``prob > 0.5`` (``eval_sal``'s
default threshold list); it is not a published number.

Ground-truth pixels equal to ``ignore_index`` are left out of all three. A prediction holding
NaN on a labelled pixel makes all three NaN (it would otherwise count as background).
"""
import numpy as np
import torch

#: Thresholds of ASTMT / MTI-Net ``eval_sal``: ``numpy.linspace(0.2, 0.9, 15)``.
SAL_IOU_THRESHOLDS = tuple(float(t) for t in np.linspace(0.2, 0.9, 15))


def saliency_thresholds(step: float = 0.05) -> torch.Tensor:
    """The maxF thresholds of the official code: ``torch.arange(step, 1, step)``."""
    return torch.arange(step, 1, step)


def _foreground_iou(fg: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-row foreground IoU of ``(T, N)`` predictions against ``(N,)`` targets (1 if empty)."""
    inter = (fg & target).sum(dim=-1).double()
    union = (fg | target).sum(dim=-1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def saliency_counts(prob: torch.Tensor, gt: torch.Tensor, thresholds: torch.Tensor,
                    iou_threshold: float = 0.5, ignore_index: int = 255,
                    iou_thresholds: tuple[float, ...] = SAL_IOU_THRESHOLDS
                    ) -> dict[str, np.ndarray]:
    """Per-image counts for :func:`saliency_metrics`.

    Args:
        prob: foreground probability in [0, 1], any shape.
        gt: ground truth of the same shape: 1 salient, 0 background, ``ignore_index`` unlabeled.
        thresholds: 1-D thresholds of the maxF curve.
        iou_threshold: probability above which a pixel counts as salient for ``mIoU``.
        ignore_index: unlabeled ground-truth value.
        iou_thresholds: thresholds of the ``maxmIoU`` curve.

    Returns:
        dict with ``counts``: ``(3, K)`` float64 true / predicted / actual positives per
        threshold, ``iou``: the image's foreground IoU at ``iou_threshold`` (float64 scalar
        array) and ``ious``: ``(T,)`` float64 IoUs at ``iou_thresholds`` of the 8-bit
        prediction. All NaN when ``prob`` holds NaN on a labelled pixel.
    """
    valid = gt != ignore_index
    prob = prob[valid].float()
    if torch.isnan(prob).any():
        nan = float('nan')
        return dict(counts=np.full((3, len(thresholds)), nan),
                    iou=np.asarray(nan, dtype=np.float64),
                    ious=np.full(len(iou_thresholds), nan))
    target = gt[valid] == 1
    above = prob[None, :] >= thresholds.to(prob)[:, None]
    counts = torch.stack([
        (above & target).sum(dim=1),
        above.sum(dim=1),
        target.sum().expand(len(thresholds)),
    ])
    iou = _foreground_iou((prob > iou_threshold)[None], target)[0]
    # The official numbers come from uint8(255 * prob) PNGs read back as float32 / 255; the
    # float32 comparison matters for levels such as 51 / 255 == 0.2.
    png = torch.floor(prob * 255).clamp(0, 255) / 255
    above_iou = png[None, :] > torch.tensor(iou_thresholds, dtype=torch.float32,
                                            device=png.device)[:, None]
    ious = _foreground_iou(above_iou, target)
    return dict(counts=counts.cpu().numpy().astype(np.float64),
                iou=np.asarray(float(iou), dtype=np.float64),
                ious=ious.cpu().numpy())


def saliency_metrics(counts: np.ndarray, ious: np.ndarray, beta_squared: float = 0.3,
                     threshold_ious: np.ndarray | None = None) -> dict[str, float]:
    """``maxF``, ``maxmIoU`` and ``mIoU`` (percent) from summed counts and per-image IoUs.

    Args:
        counts: ``(3, K)`` sums of the ``counts`` of :func:`saliency_counts`.
        ious: per-image ``iou`` values.
        beta_squared: weight of precision in the F-measure.
        threshold_ious: ``(N, T)`` stacked per-image ``ious``; without it ``maxmIoU`` is NaN.

    Returns:
        dict with ``maxF``, ``maxmIoU`` and ``mIoU``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if np.isnan(counts).any():
        max_f = float('nan')
    else:
        tp, predicted, actual = counts
        with np.errstate(divide='ignore', invalid='ignore'):
            precision = tp / predicted
            recall = tp / actual
            fscore = (1 + beta_squared) * precision * recall / (beta_squared * precision + recall)
        max_f = float(np.nan_to_num(fscore, nan=0.0).max()) * 100
    ious = np.asarray(ious, dtype=np.float64)
    miou = float(np.mean(ious)) * 100 if len(ious) else float('nan')
    max_miou = float('nan')
    if threshold_ious is not None and len(threshold_ious):
        # np.max of a curve holding NaN is NaN, as wanted.
        max_miou = float(np.max(np.mean(np.asarray(threshold_ious, np.float64), axis=0))) * 100
    return dict(maxF=max_f, maxmIoU=max_miou, mIoU=miou)
