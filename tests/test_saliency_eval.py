"""Saliency metrics against hand-computed values: DeMT's maxF and ASTMT / MTI-Net's mIoU.

The expected numbers are derived by hand in the comments from the definitions in
:mod:`mmdense.evaluation.functional.saliency`.
"""
import numpy as np
import pytest
import torch

from mmdense.evaluation import MultiTaskMetric
from mmdense.evaluation.functional import SAL_IOU_THRESHOLDS, saliency_counts


def _sample(gt, prob) -> dict:
    return {'gt_sal': {'data': torch.as_tensor(np.uint8(gt))[None]},
            'pred_sal': {'data': torch.as_tensor(np.float32(prob))[None]}}


def _run(samples, **kwargs) -> dict:
    metric = MultiTaskMetric(tasks=['sal'], **kwargs)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_iou_thresholds_are_those_of_eval_sal():
    # numpy.linspace(0.2, 0.9, 15): 0.20, 0.25, ..., 0.90
    assert len(SAL_IOU_THRESHOLDS) == 15
    assert SAL_IOU_THRESHOLDS == pytest.approx([0.2 + 0.05 * i for i in range(15)])


def test_max_miou_is_the_best_mean_over_thresholds():
    # Image 1: gt (1, 1, 0, 0), prob (0.93, 0.33, 0.64, 0.12) -> 8-bit png / 255:
    #   floor(237.15) = 237 -> 0.929, floor(84.15) = 84 -> 0.329, 163 -> 0.639, 30 -> 0.118.
    # Image 2: gt (0, 0), prob (0.47, 0.10) -> floor(119.85) = 119 -> 0.467, 25 -> 0.098.
    # Foreground is png / 255 > t:
    #   image 1: t = 0.20 .. 0.30: {0.929, 0.329, 0.639} vs gt {0, 1}: I 2, U 3 -> 2/3
    #            t = 0.35 .. 0.60: {0.929, 0.639}: I 1, U 3 -> 1/3
    #            t = 0.65 .. 0.90: {0.929}: I 1, U 2 -> 1/2
    #   image 2: t = 0.20 .. 0.45: {0.467} vs empty gt -> 0; t >= 0.50: both empty -> 1
    # Mean over the images: 1/3 (t 0.20 .. 0.30), 1/6 (0.35 .. 0.45), 2/3 (0.50 .. 0.60),
    # 3/4 (0.65 .. 0.90) -> maxmIoU = 3/4 (the mean of each image's best, 5/6, is not it).
    # mIoU (prob > 0.5 only): image 1 {0.93, 0.64} -> 1/3, image 2 empty/empty -> 1: 2/3.
    # maxF (counts pooled, prob >= t, beta^2 0.3, F = 1.3 P R / (0.3 P + R)):
    #   t = 0.15 .. 0.30: 4 predicted, 2 true -> P 1/2, R 1 -> 0.565
    #   t = 0.35 .. 0.45: 3 predicted, 1 true -> P 1/3, R 1/2 -> 0.361
    #   t = 0.50 .. 0.60: 2 predicted, 1 true -> P 1/2, R 1/2 -> 0.5
    #   t = 0.65 .. 0.90: 1 predicted, 1 true -> P 1, R 1/2 -> 0.8125 (the best)
    out = _run([_sample([[1, 1, 0, 0]], [[0.93, 0.33, 0.64, 0.12]]),
                _sample([[0, 0]], [[0.47, 0.10]])])
    assert out['sal/maxmIoU'] == pytest.approx(75.0)
    assert out['sal/mIoU'] == pytest.approx(200 / 3)
    assert out['sal/maxF'] == pytest.approx(81.25)


def test_max_miou_uses_the_8bit_map_and_strict_threshold():
    # prob 0.2039 -> floor(51.99) = 51 -> 51 / 255 = 0.2 (in float32), not > 0.2: background
    # at t = 0.20 (the float prob would be foreground). At t = 0.20 the image has IoU 0 (gt
    # salient, nothing predicted); at every t the same -> maxmIoU 0. With prob 0.2079 (level
    # 53 -> 0.2078 > 0.2) t = 0.20 gives IoU 1 -> maxmIoU 100.
    assert _run([_sample([[1]], [[0.2039]])])['sal/maxmIoU'] == 0.0
    assert _run([_sample([[1]], [[0.2079]])])['sal/maxmIoU'] == pytest.approx(100.0)


def test_ignored_pixels_are_left_out():
    # The 255 pixel (prob 0.99) is ignored: image as in the first case but without it.
    with_ignored = _run([_sample([[1, 1, 0, 0, 255]], [[0.93, 0.33, 0.64, 0.12, 0.99]])])
    plain = _run([_sample([[1, 1, 0, 0]], [[0.93, 0.33, 0.64, 0.12]])])
    assert with_ignored == pytest.approx(plain)
    # One image alone: max over t of its own IoU = 2/3 (t = 0.20 .. 0.30).
    assert plain['sal/maxmIoU'] == pytest.approx(200 / 3)


def test_nan_probabilities_are_not_background():
    # A NaN on a labelled pixel makes every saliency metric NaN ...
    out = _run([_sample([[1, 1, 0, 0]], [[0.93, np.nan, 0.64, 0.12]]),
                _sample([[0, 0]], [[0.47, 0.10]])])
    assert all(np.isnan(out[f'sal/{k}']) for k in ('maxF', 'maxmIoU', 'mIoU'))
    # ... but not on an ignored one.
    out = _run([_sample([[1, 1, 0, 0, 255]], [[0.93, 0.33, 0.64, 0.12, np.nan]])])
    assert out['sal/maxF'] == pytest.approx(81.25)
    counts = saliency_counts(torch.tensor([np.nan]), torch.tensor([1]), torch.tensor([0.5]))
    assert np.isnan(counts['counts']).all() and np.isnan(counts['ious']).all()


def test_iou_thresholds_are_configurable():
    # Only t = 0.5 (unquantised 0.93, 0.64 are above): image 1 IoU 1/3 -> maxmIoU = mIoU.
    out = _run([_sample([[1, 1, 0, 0]], [[0.93, 0.33, 0.64, 0.12]])], sal_iou_thresholds=[0.5])
    assert out['sal/maxmIoU'] == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match='sal_iou_thresholds'):
        MultiTaskMetric(tasks=['sal'], sal_iou_thresholds=[])
