"""Surface-normal angular errors (protocol of DeMT / ATRC / ASTMT).

Prediction and ground truth are normalised to unit length (a zero prediction stays zero and so
is 90 degrees off) and the angle between them is measured on pixels whose ground truth is not
the zero vector. The angle is ``2 * atan2(|p - t|, |p + t|)``, as in the official DeMT
``MeanErrorInAngle``: it equals ``acos(p . t)`` but keeps full precision near 0 and 180 degrees.
Statistics are pooled over all valid pixels of the set.

The median cannot be merged from per-image medians, so each image keeps a sparse histogram of
its errors (bins of ``bin_width`` degrees); the median is read from the merged histogram,
interpolating linearly inside the bin that holds it. With the default 0.1 degree bins it is
within 0.1 degree of the exact median (closer in practice, a bin holding many pixels); the mean,
RMSE and threshold percentages are exact.

A NaN angle (a NaN in the prediction, or in the ground truth of a labelled pixel) makes every
statistic NaN, as it does for the mean: it is kept out of the histogram, where it would
otherwise land in an arbitrary bin and leave the median finite.
"""
import math

import numpy as np
import torch

NORMALS_THRESHOLDS = (11.25, 22.5, 30.0)


def angular_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Angles in degrees between predicted and ground-truth normals on valid pixels.

    Args:
        pred: ``(3, H, W)`` predicted normals, any length.
        gt: ``(3, H, W)`` ground-truth normals, the zero vector where unlabeled.

    Returns:
        1-D float tensor with one angle per valid pixel.
    """
    valid = gt.ne(0).any(dim=0)
    pred = _unit(pred[:, valid].double())
    gt = _unit(gt[:, valid].double())
    angle = 2 * torch.atan2((pred - gt).norm(dim=0), (pred + gt).norm(dim=0))
    return torch.rad2deg(angle)


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    norm = vectors.norm(dim=0, keepdim=True)
    return vectors / torch.where(norm == 0, torch.ones_like(norm), norm)


def normals_error_stats(pred: torch.Tensor, gt: torch.Tensor,
                        bin_width: float = 0.1) -> dict[str, np.ndarray]:
    """Per-image statistics of the angular error.

    Args:
        pred: ``(3, H, W)`` predicted normals.
        gt: ``(3, H, W)`` ground-truth normals.
        bin_width: histogram bin width in degrees, for the median.

    Returns:
        dict with ``sums`` (float64: pixel count, sum of errors, sum of squared errors, and the
        numbers of errors below each of :data:`NORMALS_THRESHOLDS`), and the sparse histogram
        ``hist_bins`` (bin indices, uint16 for up to 65536 bins) / ``hist_counts`` (int32): at
        most ``6 * 180 / bin_width`` bytes.
    """
    errors = angular_errors(pred, gt)
    below = [(errors < t).sum().double() for t in NORMALS_THRESHOLDS]
    sums = torch.stack([
        torch.tensor(float(errors.numel()), dtype=torch.float64, device=errors.device),
        errors.sum(), (errors**2).sum(), *below
    ])
    num_bins = math.ceil(180 / bin_width)
    # NaN angles already make the error sum NaN, which normals_metrics propagates; casting
    # them to a bin index is undefined.
    finite = errors[~torch.isnan(errors)]
    bins = (finite / bin_width).floor().long().clamp_(0, num_bins - 1)
    hist = torch.bincount(bins, minlength=num_bins)
    nonzero = hist.nonzero().squeeze(1)
    bin_dtype = np.uint16 if num_bins <= 2**16 else np.int32
    return dict(
        sums=sums.cpu().numpy(),
        hist_bins=nonzero.cpu().numpy().astype(bin_dtype),
        hist_counts=hist[nonzero].cpu().numpy().astype(np.int32),
    )


def normals_metrics(sums: np.ndarray, hist_bins: np.ndarray, hist_counts: np.ndarray,
                    bin_width: float = 0.1) -> dict[str, float]:
    """Normals metrics from pooled statistics.

    Args:
        sums: summed ``sums`` of :func:`normals_error_stats`.
        hist_bins: concatenated ``hist_bins`` of all images (repeats allowed).
        hist_counts: the matching ``hist_counts``.
        bin_width: the bin width used to build the histograms.

    Returns:
        ``mean``, ``median`` and ``rmse`` in degrees and ``11.25``, ``22.5``, ``30``: the
        percentage of pixels with an error below each threshold. NaN without valid pixels, and
        all NaN when an angle was NaN (its error sum is NaN).
    """
    count, total, total_sq, *below = (float(v) for v in sums)
    keys = [f'{t:g}' for t in NORMALS_THRESHOLDS]
    if count == 0 or math.isnan(total):
        return {k: float('nan') for k in ['mean', 'median', 'rmse', *keys]}
    out = dict(
        mean=total / count,
        median=_histogram_median(hist_bins, hist_counts, bin_width),
        rmse=(total_sq / count)**0.5,
    )
    for key, hits in zip(keys, below):
        out[key] = hits / count * 100
    return out


def _histogram_median(bins: np.ndarray, counts: np.ndarray, bin_width: float) -> float:
    hist = np.bincount(bins.astype(np.int64), weights=counts.astype(np.float64))
    occupied = np.flatnonzero(hist)
    hist = hist[occupied]
    cum = np.cumsum(hist)
    total = cum[-1]

    def value_at(rank: float) -> float:
        # Spread the samples of a bin evenly over it; rank is 0-based.
        b = int(np.searchsorted(cum, rank, side='right'))
        before = cum[b] - hist[b]
        return (occupied[b] + (rank - before + 0.5) / hist[b]) * bin_width

    if total % 2:
        return value_at((total - 1) / 2)
    return (value_at(total / 2 - 1) + value_at(total / 2)) / 2
