"""Boundary detection: odsF, oisF and AP with the BSDS pixel correspondence, in Python.

The official DeMT / ATRC / MTI-Net protocol saves ``uint8(255 * prob)`` PNGs and runs SEISM
(MATLAB) on them. Per image and per threshold ``t`` in ``0.01, ..., 0.99`` SEISM binarises the map
with ``png / 255 >= t``, thins it with ``bwmorph(.., 'thin', Inf)`` and matches it to the
ground-truth boundaries with ``correspondPixels`` under a tolerance of ``max_dist`` times the image
diagonal (0.0075 for PASCAL-Context, 0.011 for NYUD-v2). Predictions are not non-maximum
suppressed.

Here the same steps run with pyEdgeEval's Cython port of ``correspondPixels`` and
:func:`bwmorph_thin`, so only four counts per threshold and image have to be kept: matched
ground-truth pixels ``cntR``, ground-truth pixels ``sumR``, matched predicted pixels ``cntP`` and
predicted pixels ``sumP``. The aggregation follows SEISM's ``gather_measure``, ``general_ods``,
``general_ois`` and ``general_ap``.

SEISM's ground truth is a segmentation: ``edgesEvalImg`` scores against
``bwmorph(seg2bmap(G), 'thin', Inf)`` (jponttuset/seism ``src/piotr_edges/edgesEvalImg.m``), which
:func:`seism_boundary_gt` reproduces for label maps such as PASCAL-Context's ``LabelMap``. The
ground-truth map given to :func:`boundary_match_counts` is used as is.

A property inherited from the original matching code: ``correspondPixels`` wires every pixel to
6 random outlier nodes from a clock-seeded generator, so a count can differ by a pixel or two
between runs (as with MATLAB; negligible on full-size maps, and absent when both maps have at
most 6 boundary pixels).
"""
from collections.abc import Sequence

import numpy as np

COUNT_FIELDS = ('cntR', 'sumR', 'cntP', 'sumP')


def bwmorph_thin(binary: np.ndarray) -> np.ndarray:
    """MATLAB's ``bwmorph(binary, 'thin', Inf)``.

    Both MATLAB and ``skimage.morphology.thin`` apply the two sub-iterations of Guo and Hall's
    parallel thinning (the same look-up tables) and repeat whole passes until a pass deletes
    nothing. pyEdgeEval's ``binary_thin`` instead stops at the first sub-iteration that deletes
    nothing, so shapes that only the second sub-iteration thins (an L-shaped corner, some 2x2
    blocks on curves) stay thicker there.

    Args:
        binary: ``(H, W)`` map, non-zero = foreground.

    Returns:
        ``(H, W)`` bool map.
    """
    from skimage.morphology import thin

    return thin(np.asarray(binary) != 0)


def seg2bmap(labels: np.ndarray) -> np.ndarray:
    """Boundary map of a segmentation, as ``seg2bmap`` of the BSDS / SEISM / DAVIS code.

    A pixel is a boundary pixel where its label differs from that of its right, bottom or
    bottom-right neighbour (the boundary sits half a pixel towards the origin). In the last row
    only the right neighbour counts, in the last column only the bottom one, and the
    bottom-right corner pixel is never a boundary. The map has the resolution of ``labels``.

    Args:
        labels: ``(H, W)`` label map.

    Returns:
        ``(H, W)`` bool map.
    """
    seg = np.asarray(labels)
    if seg.ndim != 2:
        raise ValueError(f'seg2bmap expects a 2-D label map, got shape {seg.shape}')
    bmap = np.zeros(seg.shape, dtype=bool)
    bmap[:, :-1] |= seg[:, :-1] != seg[:, 1:]
    bmap[:-1, :] |= seg[:-1, :] != seg[1:, :]
    bmap[:-1, :-1] |= seg[:-1, :-1] != seg[1:, 1:]
    return bmap


def seism_boundary_gt(labels: np.ndarray) -> np.ndarray:
    """SEISM's boundary ground truth of a segmentation: ``bwmorph(seg2bmap(labels), 'thin', Inf)``.

    Args:
        labels: ``(H, W)`` label map (e.g. PASCAL-Context's ``LabelMap``).

    Returns:
        ``(H, W)`` uint8 map of {0, 1}.
    """
    return bwmorph_thin(seg2bmap(labels)).astype(np.uint8)


def boundary_thresholds(thresholds: int | Sequence[float] = 99) -> np.ndarray:
    """Thresholds as BSDS' ``edgesEvalImg`` defines them.

    Args:
        thresholds: a number ``K`` of evenly spaced thresholds ``1/(K+1), ..., K/(K+1)`` (99 gives
            SEISM's ``0.01, ..., 0.99``) or the thresholds themselves.

    Returns:
        1-D float64 array.
    """
    if isinstance(thresholds, int):
        if thresholds < 1:
            raise ValueError(f'the number of boundary thresholds must be >= 1, got {thresholds}')
        return np.linspace(1 / (thresholds + 1), 1 - 1 / (thresholds + 1), thresholds)
    values = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError('the list of boundary thresholds is empty')
    return values


def boundary_match_counts(prob: np.ndarray,
                          gt: np.ndarray,
                          thresholds: np.ndarray,
                          max_dist: float = 0.0075,
                          thinning: bool = True,
                          nms: bool = False,
                          quantize: bool = True) -> np.ndarray:
    """Match counts of one image at every threshold.

    Args:
        prob: ``(H, W)`` boundary probability in [0, 1].
        gt: ``(H, W)`` ground-truth boundary map (non-zero = boundary).
        thresholds: 1-D thresholds, see :func:`boundary_thresholds`.
        max_dist: matching tolerance as a fraction of the image diagonal.
        thinning: thin the binarised prediction, as the BSDS protocol does.
        nms: apply pyEdgeEval's ``fast_nms`` (structured-edge NMS) before thresholding; not
            part of the DeMT / ATRC protocol.
        quantize: round the probability down to 1/255 steps as the official 8-bit PNGs do.

    Returns:
        ``(K, 4)`` int32 array of ``cntR, sumR, cntP, sumP`` per threshold; all -1 when the
        prediction holds NaN (a NaN would otherwise count as background at every threshold),
        which :func:`boundary_metrics` turns into NaN scores.
    """
    from pyEdgeEval._lib import correspond_pixels

    prob = np.asarray(prob, dtype=np.float32)
    gt = np.asarray(gt) != 0
    if prob.shape != gt.shape or prob.ndim != 2:
        raise ValueError(f'boundary prediction {prob.shape} and ground truth {gt.shape} must be '
                         'two 2-D maps of the same size')
    if np.isnan(prob).any():
        return np.full((len(thresholds), 4), -1, dtype=np.int32)
    if nms:
        from pyEdgeEval.preprocess import fast_nms
        prob = fast_nms(img=prob.astype(np.float32), r=1, s=5, m=1.01, half_prec=False)
    if quantize:
        level = np.floor(prob * np.float32(255)).clip(0, 255)
        prob = level.astype(np.float64) / 255.0
    gt_f64 = gt.astype(np.float64)
    sum_r = int(gt.sum())

    counts = np.zeros((len(thresholds), 4), dtype=np.int32)
    previous = None
    for k, thr in enumerate(thresholds):
        # max(eps, t) as in edgesEvalImg, so a zero map never counts as boundary.
        binary = prob >= max(float(thr), np.finfo(np.float64).eps)
        if previous is not None and np.array_equal(binary, previous[0]):
            counts[k] = previous[1]
            continue
        pred = bwmorph_thin(binary) if thinning else binary
        sum_p = int(pred.sum())
        if sum_p == 0 or sum_r == 0:
            # Nothing to match: no correspondence can exist.
            row = (0, sum_r, 0, sum_p)
        else:
            match_pred, match_gt, _, _ = correspond_pixels(
                pred.astype(np.float64), gt_f64, max_dist=max_dist)
            row = (int((match_gt > 0).sum()), sum_r, int((match_pred > 0).sum()), sum_p)
        counts[k] = row
        previous = (binary, row)
    return counts


def _precision_recall(cnt_r, sum_r, cnt_p, sum_p):
    """SEISM's precision/recall with its conventions for empty maps (vectorised)."""
    cnt_r, sum_r, cnt_p, sum_p = (np.asarray(v, dtype=np.float64)
                                  for v in (cnt_r, sum_r, cnt_p, sum_p))
    rec = np.zeros_like(sum_r)
    prec = np.zeros_like(sum_r)
    no_gt = (sum_r == 0) & (cnt_p == 0)
    rec[no_gt], prec[no_gt] = 1, 0
    no_pred = (sum_p == 0) & (cnt_r == 0)
    rec[no_pred], prec[no_pred] = 0, 1
    both = (sum_p != 0) & (cnt_r != 0)
    rec[both] = cnt_r[both] / sum_r[both]
    prec[both] = cnt_p[both] / sum_p[both]
    return prec, rec


def _fmeasure(prec: np.ndarray, rec: np.ndarray) -> np.ndarray:
    denom = prec + rec
    return np.where(denom == 0, 0.0, 2 * prec * rec / np.where(denom == 0, 1, denom))


def boundary_metrics(counts: np.ndarray) -> dict[str, float]:
    """ODS F, OIS F and AP (percent) from per-image counts.

    Args:
        counts: ``(N, K, 4)`` stacked results of :func:`boundary_match_counts`.

    Returns:
        dict with ``odsF`` (best F over thresholds of the counts pooled over images), ``oisF``
        (counts pooled at each image's best threshold) and ``AP`` (SEISM's interpolated area
        under the pooled precision-recall curve, recall grid 0:0.01:1). All NaN when an image
        had a NaN prediction (negative counts).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 3 or counts.shape[-1] != 4:
        raise ValueError(f'boundary counts must have shape (N, K, 4), got {counts.shape}')
    if (counts < 0).any():
        return dict(odsF=float('nan'), oisF=float('nan'), AP=float('nan'))

    # ODS: pool over images for every threshold.
    pooled = counts.sum(axis=0)
    prec, rec = _precision_recall(*pooled.T)
    f_curve = _fmeasure(prec, rec)
    ods = float(f_curve.max())

    # OIS: each image picks its own best threshold (first one on ties, as MATLAB's max).
    img_prec, img_rec = _precision_recall(*np.moveaxis(counts, -1, 0))
    best = _fmeasure(img_prec, img_rec).argmax(axis=1)
    chosen = counts[np.arange(len(counts)), best].sum(axis=0)
    ois_prec, ois_rec = _precision_recall(*chosen[:, None])
    ois = float(_fmeasure(ois_prec, ois_rec)[0])

    return dict(odsF=ods * 100, oisF=ois * 100, AP=_average_precision(prec, rec) * 100)


def _average_precision(prec: np.ndarray, rec: np.ndarray) -> float:
    # general_ap: unique recalls (first occurrence), linear interpolation of precision on the
    # recall grid 0:0.01:1 inside the observed recall range, summed and divided by 100.
    rec_u, first = np.unique(rec, return_index=True)
    if len(rec_u) < 2:
        return 0.0
    grid = np.arange(101) / 100
    inside = (grid >= rec_u[0]) & (grid <= rec_u[-1])
    return float(np.interp(grid[inside], rec_u, prec[first]).sum() / 100)
