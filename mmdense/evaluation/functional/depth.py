"""Depth estimation errors (NYUD-v2 protocol of DeMT / ATRC / MTI-Net).

Every error is pooled over all valid pixels of the evaluated set, not averaged per image: the
official DeMT ``RMSE`` metric accumulates the squared error and the pixel count over batches and
takes one square root at the end, and MTI-Net's ``DepthMeter`` does the same for log-RMSE. A pixel
is valid where the ground truth is positive (0 marks missing depth). A NaN prediction on a valid
pixel makes every metric NaN (the ``delta`` counts would otherwise score it as a miss).
"""
import math

import numpy as np
import torch

DEPTH_SUM_FIELDS = ('count', 'sq_err', 'abs_rel', 'sq_log_err', 'delta1', 'delta2', 'delta3')

# Lower bound for logarithms and ratios: the official code clamps predictions to 1e-9.
_EPS = 1e-9


def depth_error_sums(pred: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
    """Sums over the valid pixels of one image.

    Negative predictions are clamped to 0 first, as the official validation step does.

    Args:
        pred: predicted depth, any shape.
        gt: ground-truth depth of the same shape, 0 (or less) where missing.

    Returns:
        float64 array ordered as :data:`DEPTH_SUM_FIELDS`: valid pixel count, sum of squared
        errors, sum of ``|pred - gt| / gt``, sum of squared log errors and the numbers of
        pixels with ``max(pred / gt, gt / pred)`` below 1.25, 1.25^2 and 1.25^3.
    """
    valid = gt > 0
    gt = gt[valid].double()
    pred = pred[valid].double().clamp(min=0)
    safe_pred = pred.clamp(min=_EPS)
    ratio = torch.maximum(safe_pred / gt, gt / safe_pred)
    sums = torch.stack([
        valid.sum().double(),
        ((pred - gt)**2).sum(),
        ((pred - gt).abs() / gt).sum(),
        ((torch.log(safe_pred) - torch.log(gt))**2).sum(),
        (ratio < 1.25).sum().double(),
        (ratio < 1.25**2).sum().double(),
        (ratio < 1.25**3).sum().double(),
    ])
    return sums.cpu().numpy()


def depth_metrics(sums: np.ndarray) -> dict[str, float]:
    """Depth metrics from summed :func:`depth_error_sums`.

    Args:
        sums: ``(7,)`` sums over the images.

    Returns:
        ``rmse``, ``abs_rel`` and ``log_rmse`` (natural log), and ``delta1``..``delta3`` in
        percent. NaN when no pixel was valid or a prediction was NaN.
    """
    count, sq_err, abs_rel, sq_log_err, *deltas = (float(v) for v in sums)
    if count == 0 or math.isnan(sq_err):
        nan = float('nan')
        return dict(rmse=nan, abs_rel=nan, log_rmse=nan, delta1=nan, delta2=nan, delta3=nan)
    out = dict(
        rmse=(sq_err / count)**0.5,
        abs_rel=abs_rel / count,
        log_rmse=(sq_log_err / count)**0.5,
    )
    for i, hits in enumerate(deltas, start=1):
        out[f'delta{i}'] = hits / count * 100
    return out
