"""MultiTaskMetric against hand-computed values on tiny hand-built cases.

Every expected number below is derived by hand from the metric definitions (the derivation is in
the comments), not produced by the code under test.
"""
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData

from mmdense.evaluation import MultiTaskMetric
from mmdense.evaluation.functional import boundary_match_counts, boundary_metrics, delta_m
from mmdense.evaluation.functional.multitask import parse_baselines
from mmdense.registry import METRICS
from mmdense.structures.multitask_data_sample import MultiTaskDataSample


def sample(**maps) -> dict:
    """A data sample as mmengine's Evaluator hands it to metrics: nested dicts of tensors."""
    out = {'tasks': []}
    for key, value in maps.items():
        tensor = torch.as_tensor(np.asarray(value))
        if tensor.dim() == 2:
            tensor = tensor[None]
        out[key] = {'data': tensor}
    return out


def run(metric: MultiTaskMetric, samples: list) -> dict:
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


# --------------------------------------------------------------------------- segmentation
SEG_GT_1 = [[0, 0, 1], [1, 2, 255]]
SEG_PRED_1 = [[0, 1, 1], [1, 2, 2]]
SEG_GT_2 = [[0, 0, 0]]
SEG_PRED_2 = [[1, 1, 1]]


def test_semseg_iou_single_image():
    # Valid pixels: the 5 not labelled 255.
    # class 0: gt {(0,0),(0,1)}, pred {(0,0)}        -> I 1, U 2 -> 1/2
    # class 1: gt {(0,2),(1,0)}, pred {(0,1),(0,2),(1,0)} -> I 2, U 3 -> 2/3
    # class 2: gt {(1,1)}, pred {(1,1)} ((1,2) ignored) -> 1
    # mIoU = (1/2 + 2/3 + 1) / 3 = 0.722222; aAcc = 4 correct / 5 = 0.8
    # mAcc = mean(1/2, 2/2, 1/1) = 0.833333
    metric = MultiTaskMetric(tasks=['semseg'], num_classes=dict(semseg=3))
    metric.dataset_meta = dict(classes=('wall', 'floor', 'bed'))
    out = run(metric, [sample(gt_semseg=np.uint8(SEG_GT_1), pred_semseg=SEG_PRED_1)])
    assert out['semseg/mIoU'] == pytest.approx(72.2222, abs=1e-3)
    assert out['semseg/aAcc'] == pytest.approx(80.0)
    assert out['semseg/mAcc'] == pytest.approx(83.3333, abs=1e-3)
    assert out['semseg/IoU.wall'] == pytest.approx(50.0)
    assert out['semseg/IoU.floor'] == pytest.approx(66.6667, abs=1e-3)
    assert out['semseg/IoU.bed'] == pytest.approx(100.0)


def test_human_parts_iou_is_pooled_over_images_and_skips_absent_classes():
    # Areas are summed over both images before dividing (not a mean of per-image IoUs):
    # class 0: gt 2+3=5, pred 1+0=1, I 1 -> U 5 -> 0.2
    # class 1: gt 2+0=2, pred 3+3=6, I 2 -> U 6 -> 1/3
    # class 2: I 1, U 1 -> 1
    # class 3: never in gt nor pred -> no IoU, left out of the mean
    # mIoU = (0.2 + 1/3 + 1) / 3 = 0.511111
    metric = MultiTaskMetric(tasks=['human_parts'], num_classes=dict(human_parts=4))
    out = run(metric, [
        sample(gt_human_parts=np.uint8(SEG_GT_1), pred_human_parts=SEG_PRED_1),
        sample(gt_human_parts=np.uint8(SEG_GT_2), pred_human_parts=SEG_PRED_2),
    ])
    assert out['human_parts/mIoU'] == pytest.approx(51.1111, abs=1e-3)
    assert out['human_parts/IoU.0'] == pytest.approx(20.0)
    assert math.isnan(out['human_parts/IoU.3'])


def test_semseg_accepts_class_scores():
    # (C, H, W) scores are reduced with argmax: this is SEG_PRED_1 again.
    scores = torch.nn.functional.one_hot(torch.tensor(SEG_PRED_1), 3).permute(2, 0, 1).float()
    metric = MultiTaskMetric(tasks=['semseg'], num_classes=dict(semseg=3))
    out = run(metric, [sample(gt_semseg=np.uint8(SEG_GT_1), pred_semseg=scores)])
    assert out['semseg/mIoU'] == pytest.approx(72.2222, abs=1e-3)


def test_semseg_nan_scores_give_nan():
    # NaN class scores on a labelled pixel: argmax would pick the NaN channel; report NaN.
    scores = torch.nn.functional.one_hot(torch.tensor(SEG_PRED_1), 3).permute(2, 0, 1).float()
    scores[1, 0, 0] = float('nan')
    metric = MultiTaskMetric(tasks=['semseg'], num_classes=dict(semseg=3))
    out = run(metric, [sample(gt_semseg=np.uint8(SEG_GT_1), pred_semseg=scores)])
    assert math.isnan(out['semseg/mIoU']) and math.isnan(out['semseg/aAcc'])
    # On the ignored pixel (1, 2) a NaN changes nothing: the values of test_semseg_iou_...
    scores = torch.nn.functional.one_hot(torch.tensor(SEG_PRED_1), 3).permute(2, 0, 1).float()
    scores[0, 1, 2] = float('nan')
    out = run(MultiTaskMetric(tasks=['semseg'], num_classes=dict(semseg=3)),
              [sample(gt_semseg=np.uint8(SEG_GT_1), pred_semseg=scores)])
    assert out['semseg/mIoU'] == pytest.approx(72.2222, abs=1e-3)


# ---------------------------------------------------------------------------------- depth
def test_depth_errors():
    # Valid (gt > 0) pairs (gt, pred): (1, 2), (2, 2), (4, 2); the gt=0 pixel is ignored.
    # squared errors 1, 0, 4 -> rmse = sqrt(5/3)
    # abs rel: 1/1 + 0 + 2/4 = 1.5 -> 0.5
    # log errors: ln2, 0, -ln2 -> log_rmse = ln2 * sqrt(2/3)
    # ratios max(p/g, g/p): 2, 1, 2 -> only one below 1.25, 1.5625 and 1.953125
    metric = MultiTaskMetric(tasks=['depth'])
    out = run(metric, [sample(gt_depth=np.float32([[1, 2], [4, 0]]),
                              pred_depth=np.float32([[2, 2], [2, 5]]))])
    assert out['depth/rmse'] == pytest.approx(math.sqrt(5 / 3))
    assert out['depth/abs_rel'] == pytest.approx(0.5)
    assert out['depth/log_rmse'] == pytest.approx(math.log(2) * math.sqrt(2 / 3))
    for k in (1, 2, 3):
        assert out[f'depth/delta{k}'] == pytest.approx(100 / 3)


def test_depth_rmse_is_pooled_over_pixels_and_clamps_negative_predictions():
    # Second image: gt 3, pred -1 -> clamped to 0 -> squared error 9, abs rel 1.
    # Pooled (official DeMT RMSE): sqrt((5 + 9) / 4) = sqrt(3.5) = 1.870829
    # (a mean of per-image RMSEs would be (1.290994 + 3) / 2 = 2.145497)
    metric = MultiTaskMetric(tasks=['depth'])
    out = run(metric, [
        sample(gt_depth=np.float32([[1, 2], [4, 0]]), pred_depth=np.float32([[2, 2], [2, 5]])),
        sample(gt_depth=np.float32([[3]]), pred_depth=np.float32([[-1]])),
    ])
    assert out['depth/rmse'] == pytest.approx(math.sqrt(3.5))
    assert out['depth/abs_rel'] == pytest.approx((1.5 + 1) / 4)


def test_depth_nan_prediction_propagates():
    # rmse would be NaN anyway; the delta counts must not score the NaN pixel as a miss.
    metric = MultiTaskMetric(tasks=['depth'])
    out = run(metric, [sample(gt_depth=np.float32([[1, 2], [4, 0]]),
                              pred_depth=np.float32([[np.nan, 2], [2, 5]]))])
    assert all(math.isnan(v) for v in out.values())
    # On a pixel without ground truth (0) a NaN is ignored: the values of test_depth_errors.
    out = run(MultiTaskMetric(tasks=['depth']),
              [sample(gt_depth=np.float32([[1, 2], [4, 0]]),
                      pred_depth=np.float32([[2, 2], [2, np.nan]]))])
    assert out['depth/rmse'] == pytest.approx(math.sqrt(5 / 3))
    assert out['depth/delta1'] == pytest.approx(100 / 3)


# -------------------------------------------------------------------------------- normals
def _normal(deg: float, length: float = 1.0) -> list:
    rad = math.radians(deg)
    return [length * math.sin(rad), 0.0, length * math.cos(rad)]


def test_normals_angular_errors():
    # Six pixels; gt is +z (one with length 0.5: gt is normalised too) except one zero vector
    # (unlabeled). Predictions at 0, 10, 20 (length 3: predictions are normalised), 25 degrees
    # from +z, and a zero vector, which the official code leaves at zero: 90 degrees.
    # errors {0, 10, 20, 25, 90}: mean 145/5 = 29, median 20,
    # rmse sqrt((0 + 100 + 400 + 625 + 8100) / 5) = sqrt(1845)
    # below 11.25: 2/5, below 22.5: 3/5, below 30: 4/5
    gt = [[0, 0, 1], [0, 0, 0.5], [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 0]]
    pred = [_normal(0), _normal(10), _normal(20, 3.0), _normal(25), [0, 0, 0], _normal(45)]
    to_map = lambda v: np.float32(v).T.reshape(3, 2, 3)  # noqa: E731
    metric = MultiTaskMetric(tasks=['normals'])
    out = run(metric, [sample(gt_normals=to_map(gt), pred_normals=to_map(pred))])
    assert out['normals/mean'] == pytest.approx(29.0, abs=1e-4)
    assert out['normals/median'] == pytest.approx(20.0, abs=0.1)  # 0.1-degree histogram
    assert out['normals/rmse'] == pytest.approx(math.sqrt(1845), abs=1e-4)
    assert out['normals/11.25'] == pytest.approx(40.0)
    assert out['normals/22.5'] == pytest.approx(60.0)
    assert out['normals/30'] == pytest.approx(80.0)


def test_normals_median_of_known_angles_over_images():
    # Errors 0 and 30 degrees in one image, 90 in the other: median 30, mean 40.
    to_map = lambda v: np.float32(v).T.reshape(3, 1, -1)  # noqa: E731
    metric = MultiTaskMetric(tasks=['normals'])
    out = run(metric, [
        sample(gt_normals=to_map([[0, 0, 1]] * 2), pred_normals=to_map([_normal(0), _normal(30)])),
        sample(gt_normals=to_map([[0, 0, 1]]), pred_normals=to_map([_normal(90)])),
    ])
    assert out['normals/mean'] == pytest.approx(40.0, abs=1e-4)
    assert out['normals/median'] == pytest.approx(30.0, abs=0.1)


def test_normals_nan_prediction_propagates_to_every_statistic():
    # Errors 0 and 30 degrees plus a NaN prediction on a labelled pixel: the mean is NaN, and so
    # must be the median (a NaN must not land in a histogram bin) and the other statistics.
    to_map = lambda v: np.float32(v).T.reshape(3, 1, -1)  # noqa: E731
    metric = MultiTaskMetric(tasks=['normals'])
    out = run(metric, [sample(gt_normals=to_map([[0, 0, 1]] * 3),
                              pred_normals=to_map([_normal(0), _normal(30),
                                                   [np.nan, 0, 1]]))])
    for key in ('mean', 'median', 'rmse', '11.25', '22.5', '30'):
        assert math.isnan(out[f'normals/{key}']), key
    # A NaN prediction on an unlabeled pixel (zero gt) is ignored: median of {0, 30} = 15.
    out = run(MultiTaskMetric(tasks=['normals']),
              [sample(gt_normals=to_map([[0, 0, 1], [0, 0, 1], [0, 0, 0]]),
                      pred_normals=to_map([_normal(0), _normal(30), [np.nan, 0, 1]]))])
    assert out['normals/median'] == pytest.approx(15.0, abs=0.1)
    assert out['normals/mean'] == pytest.approx(15.0, abs=1e-4)


# ------------------------------------------------------------------------------- saliency
SAL_GT = [[1, 1, 0, 0, 255]]
SAL_PROB = [[0.92, 0.33, 0.64, 0.12, 0.99]]


def test_saliency_maxf_and_miou():
    # Valid pixels: gt (1, 1, 0, 0), prob (0.92, 0.33, 0.64, 0.12); 2 actual positives.
    # F = 1.3 P R / (0.3 P + R) per threshold t (prob >= t):
    #   t = 0.05, 0.10:        4 predicted, 2 true -> P 1/2, R 1   -> F 0.565217
    #   t = 0.15 .. 0.30:      3 predicted, 2 true -> P 2/3, R 1   -> F 0.722222
    #   t = 0.35 .. 0.60:      2 predicted, 1 true -> P 1/2, R 1/2 -> F 0.5
    #   t = 0.65 .. 0.90:      1 predicted, 1 true -> P 1,   R 1/2 -> F 0.8125
    #   t = 0.95:              none predicted -> F 0
    # maxF = 0.8125. IoU at prob > 0.5: {0.92, 0.64} vs {0.92, 0.33} -> 1/3.
    # maxmIoU (8-bit 234, 84, 163, 30 / 255; foreground png / 255 > t): t = 0.20 .. 0.30:
    # {0.92, 0.33, 0.64} -> IoU 2/3 (the best); 0.35 .. 0.60: 1/3; 0.65 .. 0.90: 1/2.
    metric = MultiTaskMetric(tasks=['sal'])
    out = run(metric, [sample(gt_sal=np.uint8(SAL_GT), pred_sal=np.float32(SAL_PROB))])
    assert out['sal/maxF'] == pytest.approx(81.25)
    assert out['sal/mIoU'] == pytest.approx(100 / 3)
    assert out['sal/maxmIoU'] == pytest.approx(200 / 3)


def test_saliency_iou_is_averaged_per_image():
    # Second image has no salient pixel and no prediction above 0.5: IoU 1 (ASTMT).
    # mIoU = (1/3 + 1) / 2. maxF is pooled: image 2 adds 2 false positives at t <= 0.2
    # only, so the best threshold (F 0.8125 at t >= 0.65) is unchanged.
    metric = MultiTaskMetric(tasks=['sal'])
    out = run(metric, [
        sample(gt_sal=np.uint8(SAL_GT), pred_sal=np.float32(SAL_PROB)),
        sample(gt_sal=np.uint8([[0, 0]]), pred_sal=np.float32([[0.2, 0.2]])),
    ])
    assert out['sal/mIoU'] == pytest.approx(200 / 3)
    assert out['sal/maxF'] == pytest.approx(81.25)


# ------------------------------------------------------------------------------- boundary
# 12x12 images (diagonal 16.97 px); with max_dist 0.1 the tolerance is 1.70 px.
# correspondPixels links every pixel to 6 random outlier nodes (seeded from the clock, as in the
# MATLAB original); with at most 6 boundary pixels per map these links are complete, so the
# matching below is deterministic.
def _line(col: int, rows=(3, 9), value: float = 1.0, shape=(12, 12)) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    out[rows[0]:rows[1], col] = value
    return out


GT_LINE = _line(4)  # 6 boundary pixels


def _edge_metric(edge_tolerance: float = 0.1, **kwargs) -> MultiTaskMetric:
    # The tolerance comes from the dataset metainfo, as the runner sets it.
    metric = MultiTaskMetric(tasks=['edge'], **kwargs)
    metric.dataset_meta = dict(edge_tolerance=edge_tolerance)
    return metric


def _edge(pred: np.ndarray, gt: np.ndarray = GT_LINE) -> dict:
    return sample(gt_edge=np.uint8(gt), pred_edge=pred)


def test_boundary_perfect_shifted_and_far_predictions():
    perfect = run(_edge_metric(), [_edge(GT_LINE)])
    assert perfect['edge/odsF'] == pytest.approx(100.0)
    assert perfect['edge/oisF'] == pytest.approx(100.0)
    # One precision-recall point only: SEISM's general_ap needs two distinct recalls -> 0.
    assert perfect['edge/AP'] == 0.0

    # A 1-pixel shift is within the 1.70 px tolerance: every pixel still matches.
    shifted = run(_edge_metric(), [_edge(_line(5))])
    assert shifted['edge/odsF'] == pytest.approx(100.0)
    # ... but not within 0.05 of the diagonal (0.85 px).
    strict = run(_edge_metric(edge_tolerance=0.05), [_edge(_line(5))])
    assert strict['edge/odsF'] == 0.0
    # 2 pixels away is out of tolerance.
    far = run(_edge_metric(), [_edge(_line(6))])
    assert far['edge/odsF'] == 0.0


def test_boundary_ods_ap_single_image():
    # Prediction: gt rows 3..6 at p=0.805 (8-bit: 205/255 = 0.804) plus a false 2-pixel line
    # 6 px away at p=0.405 (103/255 = 0.404). Thresholds 0.01 .. 0.99:
    #   t <= 0.40: 6 predicted, 4 matched; 4 of 6 gt matched -> P 2/3, R 2/3, F 2/3
    #   0.41 <= t <= 0.80: 4 predicted, all matched          -> P 1,   R 2/3, F 0.8
    #   t >= 0.81: nothing predicted (SEISM: P 1, R 0)       -> F 0
    # odsF = oisF = 0.8. AP (general_ap): recalls {0 (P 1), 2/3 (first P: 2/3)}; precision
    # 1 - r/2 interpolated on r = 0, 0.01, ..., 0.66: 67 - 0.5 * 0.01 * (0 + ... + 66)
    # = 67 - 11.055 = 55.945, divided by 100 -> 0.55945.
    pred = _line(4, rows=(3, 7), value=0.805) + _line(10, rows=(3, 5), value=0.405)
    out = run(_edge_metric(), [_edge(pred)])
    assert out['edge/odsF'] == pytest.approx(80.0)
    assert out['edge/oisF'] == pytest.approx(80.0)
    assert out['edge/AP'] == pytest.approx(55.945)


def test_boundary_ois_differs_from_ods():
    # Image A as in test_boundary_ods_ap_single_image; image B: the whole gt line at
    # p=0.305 (77/255 = 0.302): t <= 0.30 -> 6/6 matched (F 1), t >= 0.31 -> nothing.
    # ODS (counts pooled per threshold), t <= 0.30: cntR 4+6, sumR 12, cntP 10, sumP 12
    #   -> R 5/6, P 5/6 -> F 5/6; other thresholds are lower (4/9, 1/2, 0).
    # OIS: A at its best threshold (4, 6, 4, 4), B at its best (6, 6, 6, 6)
    #   -> R 10/12, P 1 -> F 10/11
    pred_a = _line(4, rows=(3, 7), value=0.805) + _line(10, rows=(3, 5), value=0.405)
    pred_b = _line(4, value=0.305)
    out = run(_edge_metric(), [_edge(pred_a), _edge(pred_b)])
    assert out['edge/odsF'] == pytest.approx(500 / 6)
    assert out['edge/oisF'] == pytest.approx(1000 / 11)


def test_boundary_thinning():
    # gt: row 4, cols 3..5 (3 px); prediction: the 2x3 block rows 4..5, cols 3..5.
    # Unthinned: 6 predicted, 3 matched (one-to-one) -> P 1/2, R 1 -> F 2/3.
    # bwmorph-thinned, the block keeps 2 pixels, both matched -> P 1, R 2/3 -> F 0.8.
    gt = np.zeros((12, 12), np.float32)
    gt[4, 3:6] = 1
    block = np.zeros((12, 12), np.float32)
    block[4:6, 3:6] = 1
    raw = run(_edge_metric(edge_thinning=False), [_edge(block, gt)])
    thin = run(_edge_metric(), [_edge(block, gt)])
    assert raw['edge/odsF'] == pytest.approx(200 / 3)
    assert thin['edge/odsF'] == pytest.approx(80.0)


def test_boundary_padding_is_cropped():
    # gt padded with 255 from 12x12 to 12x16. Prediction: 4 gt pixels shifted by one column
    # and a 2-pixel line inside the padding, which is cropped away: P 1, R 4/6 -> F 0.8
    # (counted, the padding line would give P 4/6 and F 2/3).
    gt = np.full((12, 16), 255, np.uint8)
    gt[:, :12] = GT_LINE
    pred = np.zeros((12, 16), np.float32)
    pred[:, :12] = _line(5, rows=(3, 7))
    pred[3:5, 14] = 1
    out = run(_edge_metric(), [_edge(pred, gt)])
    assert out['edge/odsF'] == pytest.approx(80.0)


def test_boundary_metrics_edge_cases_match_seism():
    # An image without gt boundaries and without predictions: SEISM counts P 1, R 0 -> F 0.
    counts = boundary_match_counts(np.zeros((8, 8)), np.zeros((8, 8)), np.array([0.5]))
    assert counts.tolist() == [[0, 0, 0, 0]]
    assert boundary_metrics(counts[None])['odsF'] == 0.0


# ------------------------------------------------------------------------------ Delta_m
def test_delta_m_made_up_case():
    # semseg +10 %, depth rmse 0.55 vs 0.5 (lower is better) -10 %, normals mean 19 vs 20
    # +5 %, edge unchanged 0 -> Delta_m = (10 - 10 + 5 + 0) / 4 = 1.25
    results = {'semseg/mIoU': 44.0, 'depth/rmse': 0.55, 'normals/mean': 19.0,
               'edge/odsF': 75.0}
    baselines = parse_baselines(dict(semseg=dict(mIoU=40.0), depth=dict(rmse=0.5),
                                     normals=dict(mean=20.0), edge=dict(odsF=75.0)))
    assert delta_m(results, baselines) == pytest.approx(1.25)
    # Several metrics of one task are averaged first: depth (-10 % rmse, +20 % delta1) -> +5 %
    results['depth/delta1'] = 60.0
    baselines = parse_baselines(dict(depth=dict(rmse=0.5, delta1=50.0),
                                     semseg=dict(mIoU=dict(value=40.0, higher_is_better=True))))
    assert delta_m(results, baselines) == pytest.approx((5 + 10) / 2)


def test_delta_m_in_metric():
    # semseg mIoU 72.2222 vs 65: +0.111111; depth rmse sqrt(5/3) = 1.290994 vs 1.5:
    # -(1.290994 - 1.5) / 1.5 = +0.139337 -> Delta_m = (0.111111 + 0.139337) / 2 * 100 = 12.5224
    metric = MultiTaskMetric(
        tasks=['semseg', 'depth'], num_classes=dict(semseg=3),
        single_task_baselines=dict(semseg=dict(mIoU=65.0), depth=dict(rmse=1.5)))
    out = run(metric, [sample(gt_semseg=np.uint8(SEG_GT_1), pred_semseg=SEG_PRED_1,
                              gt_depth=np.float32([[1, 2], [4, 0]]),
                              pred_depth=np.float32([[2, 2], [2, 5]]))])
    assert out['multitask/delta_m'] == pytest.approx(12.5224, abs=1e-3)


# ------------------------------------------------------------------------ distributed use
def _all_task_samples() -> list:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(4):
        h, w = 12, 12 + i
        # At most 6 boundary pixels per map keep the matching deterministic (see above).
        edge_gt = np.zeros((h, w), np.uint8)
        edge_gt[3:9, 4 + i] = 1
        edge_pred = np.zeros((h, w), np.float32)
        edge_pred[3:6 + i, 5] = 0.3 + 0.15 * i
        samples.append(sample(
            gt_semseg=rng.integers(0, 4, (h, w)).astype(np.uint8),
            pred_semseg=rng.integers(0, 4, (h, w)),
            gt_depth=rng.uniform(0, 3, (h, w)).astype(np.float32),
            pred_depth=rng.uniform(0, 3, (h, w)).astype(np.float32),
            gt_normals=rng.normal(size=(3, h, w)).astype(np.float32),
            pred_normals=rng.normal(size=(3, h, w)).astype(np.float32),
            gt_sal=rng.integers(0, 2, (h, w)).astype(np.uint8),
            pred_sal=rng.uniform(0, 1, (h, w)).astype(np.float32),
            gt_edge=edge_gt,
            pred_edge=edge_pred,
        ))
    return samples


TASKS = ['semseg', 'depth', 'normals', 'sal', 'edge']


def _make_metric() -> MultiTaskMetric:
    metric = MultiTaskMetric(tasks=TASKS, num_classes=dict(semseg=4), edge_thresholds=9)
    metric.dataset_meta = dict(edge_tolerance=0.1)
    return metric


def test_two_ranks_equal_one_process():
    samples = _all_task_samples()
    single = _make_metric()
    expected = run(single, samples)

    # DefaultSampler gives rank r the samples r, r + 2, ...; collect_results interleaves the
    # ranks' result lists back into dataset order.
    rank0, rank1 = _make_metric(), _make_metric()
    rank0.process({}, samples[0::2])
    rank1.process({}, samples[1::2])
    merged = [r for pair in zip(rank0.results, rank1.results) for r in pair]
    assert len(merged) == len(samples)
    assert _make_metric().compute_metrics(merged) == pytest.approx(expected, nan_ok=True)

    # What is gathered across ranks is bounded whatever the image size: class areas
    # (4 x 4 x 8 B), depth sums (56 B), normals sums + histogram (<= 1800 bins x 6 B), saliency
    # counts (3 x 19 x 8 B + 8 B + 15 x 8 B), edge counts (9 x 4 x 4 B).
    for result in single.results:
        nbytes = sum(
            sum(v.nbytes for v in r.values()) if isinstance(r, dict) else r.nbytes
            for r in result.values())
        assert nbytes < 128 + 56 + 72 + 1800 * 6 + 584 + 144


def test_evaluator_with_data_samples():
    # Through mmengine's Evaluator, which turns MultiTaskDataSample into dicts.
    metric = METRICS.build(dict(type='MultiTaskMetric', tasks=['semseg', 'depth'],
                                num_classes=dict(semseg=3)))
    evaluator = Evaluator(metric)
    data_sample = MultiTaskDataSample()
    data_sample.set_gt('semseg', PixelData(data=torch.tensor([SEG_GT_1], dtype=torch.uint8)))
    data_sample.set_pred('semseg', PixelData(data=torch.tensor([SEG_PRED_1])))
    data_sample.set_gt('depth', PixelData(data=torch.tensor([[[1., 2.], [4., 0.]]])))
    data_sample.set_pred('depth', PixelData(data=torch.tensor([[[2., 2.], [2., 5.]]])))
    evaluator.process([data_sample], {})
    out = evaluator.evaluate(1)
    assert out['semseg/mIoU'] == pytest.approx(72.2222, abs=1e-3)
    assert out['depth/rmse'] == pytest.approx(math.sqrt(5 / 3))

    # A MultiTaskDataSample given to the metric directly works too.
    direct = MultiTaskMetric(tasks=['depth'])
    direct.process({}, [data_sample])
    assert direct.compute_metrics(direct.results)['depth/rmse'] == pytest.approx(
        math.sqrt(5 / 3))


# --------------------------------------------------------------------------------- errors
def test_configuration_errors():
    with pytest.raises(ValueError, match='unknown task'):
        MultiTaskMetric(tasks=['semseg', 'optical_flow'])
    with pytest.raises(ValueError, match='not in tasks'):
        MultiTaskMetric(tasks=['semseg'], single_task_baselines=dict(depth=dict(rmse=0.5)))
    with pytest.raises(ValueError, match="metric 'odsF'"):
        MultiTaskMetric(tasks=['depth'], single_task_baselines=dict(depth=dict(odsF=70.0)))
    with pytest.raises(ValueError, match='unknown direction'):
        parse_baselines(dict(depth=dict(sq_rel=0.1)))
    with pytest.raises(ValueError, match='not a label task'):
        MultiTaskMetric(tasks=['depth'], num_classes=dict(depth=3))
    # The boundary tolerance has one source, the dataset metainfo edge_tolerance.
    with pytest.raises(ValueError, match='edge_max_dist is no longer an argument.*'
                                         'edge_tolerance'):
        MultiTaskMetric(tasks=['edge'], edge_max_dist=0.1)
    edge = sample(gt_edge=np.zeros((4, 4), np.uint8), pred_edge=np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="metainfo has no 'edge_tolerance'"):
        MultiTaskMetric(tasks=['edge']).process({}, [edge])
    with pytest.raises(ValueError, match='edge_tolerance must be a number > 0'):
        _edge_metric(edge_tolerance=0).process({}, [edge])


def test_input_errors():
    metric = MultiTaskMetric(tasks=['semseg'])
    with pytest.raises(ValueError, match='number of classes'):
        metric.process({}, [sample(gt_semseg=np.uint8(SEG_GT_1), pred_semseg=SEG_PRED_1)])
    metric = MultiTaskMetric(tasks=['depth'])
    with pytest.raises(KeyError, match='pred_depth'):
        metric.process({}, [sample(gt_depth=np.float32([[1.0]]))])
    with pytest.raises(ValueError, match='ground-truth resolution'):
        metric.process({}, [sample(gt_depth=np.ones((2, 2), np.float32),
                                   pred_depth=np.ones((3, 3), np.float32))])


@pytest.mark.slow
def test_boundary_worker_processes_give_the_same_counts():
    samples = _all_task_samples()
    serial = _edge_metric(edge_thresholds=9)
    serial.process({}, samples)
    pooled = _edge_metric(edge_thresholds=9, edge_num_workers=2)
    pooled.process({}, samples)
    for a, b in zip(serial.results, pooled.results):
        np.testing.assert_array_equal(a['edge'], b['edge'])
    assert pooled.evaluate(len(samples)) == pytest.approx(
        serial.compute_metrics(serial.results))
    assert pooled._edge_pool is None  # shut down once the rank has processed everything
