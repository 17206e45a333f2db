"""PanopticQualityMetric on hand-built cases (COCO panoptic API semantics)."""
import numpy as np
import pytest
import torch

from mmdense.evaluation.metrics.panoptic_quality import (
    PanopticQualityMetric,
    pq_stats_single,
    pq_summary,
)

NUM_CLASSES = 3  # 0: thing, 1: stuff, 2: thing; 3 = void in predictions

# Image A: thing 1 (class 0), stuff 2 (class 1), thing 3 (class 0), void.
GT_A = np.array([[1, 1, 2, 2, 2, 2],
                 [1, 1, 2, 2, 2, 2],
                 [0, 0, 0, 0, 3, 3],
                 [0, 0, 0, 0, 3, 3]])
SEG_A = [dict(id=1, category=0, iscrowd=0), dict(id=2, category=1, iscrowd=0),
         dict(id=3, category=0, iscrowd=0)]
# 1000: class 0 over thing 1 plus one void pixel (void leaves the union: IoU 1);
# 1: class 1 on 6 of the 8 stuff pixels (IoU 0.75); 2001: class 1 on thing 3 (wrong class).
PRED_A = np.array([[1000, 1000, 1, 1, 1, 3],
                   [1000, 1000, 1, 1, 1, 3],
                   [1000, 3, 3, 3, 2001, 2001],
                   [3, 3, 3, 3, 2001, 2001]])

# Image B: crowd 5 (class 0), thing 6 (class 0), stuff 7 (class 1).
GT_B = np.array([[5, 5, 5, 6, 6, 0],
                 [5, 5, 5, 6, 6, 0],
                 [7, 7, 7, 7, 7, 7]])
SEG_B = [dict(id=5, category=0, iscrowd=1), dict(id=6, category=0, iscrowd=0),
         dict(id=7, category=1, iscrowd=0)]
# 1000: class 0, 5 of its 6 pixels on the class-0 crowd region -> ignored (not a FP);
# 2000: exactly thing 6; 1: 5 of the 6 stuff pixels.
PRED_B = np.array([[1000, 1000, 1000, 2000, 2000, 3],
                   [1000, 1000, 3, 2000, 2000, 3],
                   [1000, 1, 1, 1, 1, 1]])


def test_void_pixels_leave_the_union_and_wrong_class_counts_twice():
    stats = pq_stats_single(GT_A, SEG_A, PRED_A, NUM_CLASSES)
    # [iou_sum, tp, fp, fn] per class
    np.testing.assert_allclose(stats[0], [1.0, 1, 0, 1])  # thing 3 missed
    np.testing.assert_allclose(stats[1], [0.75, 1, 1, 0])  # 2001 is a class-1 false positive
    np.testing.assert_allclose(stats[2], [0, 0, 0, 0])


def test_crowd_region_absorbs_unmatched_prediction_of_its_class():
    stats = pq_stats_single(GT_B, SEG_B, PRED_B, NUM_CLASSES)
    np.testing.assert_allclose(stats[0], [1.0, 1, 0, 0])  # the crowd is neither TP nor FN
    np.testing.assert_allclose(stats[1], [5 / 6, 1, 0, 0])
    # the same prediction labelled class 2 is not covered by a class-2 crowd: false positive
    pred = PRED_B.copy()
    pred[pred == 1000] = 1002
    assert pq_stats_single(GT_B, SEG_B, pred, NUM_CLASSES)[2].tolist() == [0, 0, 1, 0]
    # with only 1 of its 3 pixels on the crowd region it is a false positive as well
    pred = PRED_B.copy()
    pred[0, :2] = 3
    pred[1, :2] = 3
    pred[2, 1] = 1000
    assert pq_stats_single(GT_B, SEG_B, pred, NUM_CLASSES)[0].tolist() == [1.0, 1, 1, 0]


def test_iou_must_exceed_one_half():
    gt = np.array([[1, 1, 1, 1]])
    seg = [dict(id=1, category=1, iscrowd=0)]
    half = np.array([[1, 1, 3, 3]])  # IoU exactly 0.5: no match
    assert pq_stats_single(gt, seg, half, NUM_CLASSES)[1].tolist() == [0, 0, 1, 1]
    more = np.array([[1, 1, 1, 3]])
    np.testing.assert_allclose(pq_stats_single(gt, seg, more, NUM_CLASSES)[1], [0.75, 1, 0, 0])


def test_summary_and_metric_over_two_images():
    metric = PanopticQualityMetric(num_classes=NUM_CLASSES, thing_class_ids=[0, 2],
                                   classwise=True)
    metric.dataset_meta = dict(classes=('person', 'road', 'car'))
    samples = [dict(gt_panoptic_seg=dict(sem_seg=torch.from_numpy(gt)[None]),
                    pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pred)[None]),
                    segments_info=seg)
               for gt, seg, pred in ((GT_A, SEG_A, PRED_A), (GT_B, SEG_B, PRED_B))]
    # two "ranks" process one image each; BaseMetric gathers the per-image statistics
    metric.process({}, samples[:1])
    metric.process({}, samples[1:])
    results = metric.evaluate(size=2)
    # class 0: iou 2, tp 2, fn 1 -> PQ 2 / 2.5; class 1: iou 0.75 + 5/6, tp 2, fp 1
    pq0, pq1 = 2 / 2.5, (0.75 + 5 / 6) / 2.5
    assert results['PQ'] == pytest.approx(100 * (pq0 + pq1) / 2, abs=1e-3)
    assert results['SQ'] == pytest.approx(100 * (1.0 + (0.75 + 5 / 6) / 2) / 2, abs=1e-3)
    assert results['RQ'] == pytest.approx(100 * 0.8, abs=1e-3)
    assert results['PQ_th'] == pytest.approx(100 * pq0, abs=1e-3)  # class 2 never occurs
    assert results['PQ_st'] == pytest.approx(100 * pq1, abs=1e-3)
    assert results['PQ/person'] == pytest.approx(80.0, abs=1e-3)
    assert 'PQ/car' not in results


def test_perfect_prediction_and_errors():
    stats = pq_stats_single(GT_B, SEG_B, np.where(GT_B == 6, 1000, np.where(GT_B == 7, 1, 3)),
                            NUM_CLASSES)
    assert pq_summary(stats, range(NUM_CLASSES))['pq'] == pytest.approx(1.0)
    with pytest.raises(ValueError, match='differ in size'):
        pq_stats_single(GT_B, SEG_B, PRED_A, NUM_CLASSES)
    with pytest.raises(ValueError, match='predicted labels'):
        pq_stats_single(GT_B, SEG_B, PRED_B + 1, NUM_CLASSES)
    with pytest.raises(KeyError, match='not in segments_info'):
        pq_stats_single(GT_B, SEG_B[:2], PRED_B, NUM_CLASSES)


def test_instance_offset_is_mmdets():
    """Panoptic maps use mmdet's encoding, so either tool reads the other's maps."""
    from mmdet.evaluation.functional.panoptic_utils import INSTANCE_OFFSET as MMDET_OFFSET

    from mmdense.structures.panoptic import INSTANCE_OFFSET
    assert INSTANCE_OFFSET == MMDET_OFFSET
