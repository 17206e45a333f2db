"""Boundary-evaluation details of SEISM: bwmorph thinning and the PASCAL-Context ground truth.

Every expected map below is derived by hand (derivations in the comments) from the definitions:

* ``seg2bmap`` (BSDS / SEISM / DAVIS): a pixel is a boundary where its label differs from its
  right, bottom or bottom-right neighbour; in the last row only the right neighbour counts, in
  the last column only the bottom one; the bottom-right pixel never is.
* ``bwmorph(.., 'thin', Inf)``: Guo-Hall parallel thinning. With the neighbours x1..x8 counted
  counter-clockwise from the east one (x1 E, x2 NE, x3 N, x4 NW, x5 W, x6 SW, x7 S, x8 SE), a
  pixel is deleted in sub-iteration 1 when G1, G2 and G3 hold, in sub-iteration 2 when G1, G2 and
  G3' hold:
  G1: X_H = #{i in 1..4: x(2i-1) = 0 and (x(2i) or x(2i+1))} == 1;
  G2: min(n1, n2) in {2, 3}, n1 = sum_k (x(2k-1) or x(2k)), n2 = sum_k (x(2k) or x(2k+1));
  G3: not ((x2 or x3 or not x8) and x1);  G3': not ((x6 or x7 or not x4) and x5).
  Whole passes (both sub-iterations) repeat until a pass deletes nothing.
"""
import numpy as np
import pytest

from mmdense.datasets import PascalContextMultiTaskDataset
from mmdense.evaluation import MultiTaskMetric
from mmdense.evaluation.functional import (
    boundary_match_counts,
    bwmorph_thin,
    seg2bmap,
    seism_boundary_gt,
)
from tests.helpers.multitask_fixtures import write_label_map_mat, write_pascal_fixture

# An L-shaped corner A=(1,1), B=(1,2), C=(2,1) in a 4x4 map.
L_CORNER = np.array([[0, 0, 0, 0],
                     [0, 1, 1, 0],
                     [0, 1, 0, 0],
                     [0, 0, 0, 0]], bool)
# Pass 1, sub-iteration 1:
#   A: x1 (E = B) = 1, x2 = x3 = 0, x8 (SE) = 0 -> (0 or 0 or 1) and 1 = 1: G3 fails, kept.
#   B: only W (A) and SW (C) set: n1 = (x5 or x6) = 1 -> G2 fails (an end point), kept.
#   C: only N (A) and NE (B) set: n2 = (x2 or x3) = 1 -> G2 fails, kept.
#   Nothing is deleted: pyEdgeEval's binary_thin stops here and keeps all three pixels.
# Pass 1, sub-iteration 2:
#   A: x5 (W) = 0 -> G3' holds; x1 (E) and x7 (S) set: X_H = 1 (only i=3: x5 = 0, x7 = 1),
#      n1 = (x1 or x2) + (x7 or x8) = 2, n2 = (x6 or x7) + (x8 or x1) = 2 -> A is deleted.
#   B: x5 = 1 and x6 = 1 -> G3' fails, kept.  C: G2 fails as above, kept.
# Pass 2: B and C are end points of a diagonal (n1 = 1 each): nothing changes, thinning stops.
L_CORNER_THINNED = np.array([[0, 0, 0, 0],
                             [0, 0, 1, 0],
                             [0, 1, 0, 0],
                             [0, 0, 0, 0]], bool)


def test_bwmorph_thin_repeats_whole_passes():
    np.testing.assert_array_equal(bwmorph_thin(L_CORNER), L_CORNER_THINNED)
    # pyEdgeEval stops after the first sub-iteration that deletes nothing: the corner stays.
    from pyEdgeEval.preprocess import binary_thin
    np.testing.assert_array_equal(binary_thin(L_CORNER), L_CORNER)


def test_boundary_counts_use_bwmorph_thinning():
    # Ground truth: the diagonal B, C. Thinned with bwmorph's semantics the prediction is that
    # diagonal: 2 predicted pixels, both matched; 2 of 2 gt pixels matched -> P = R = F = 1.
    # (pyEdgeEval's thinning would keep A: 3 predicted, 2 matched one-to-one -> F = 0.8.)
    counts = boundary_match_counts(L_CORNER.astype(np.float32), L_CORNER_THINNED,
                                   np.array([0.5]), max_dist=0.1)
    assert counts.tolist() == [[2, 2, 2, 2]]


def test_seg2bmap_and_thinning_of_a_t_junction():
    labels = np.array([[1, 1, 1, 2, 2],
                       [1, 1, 1, 2, 2],
                       [1, 1, 1, 2, 2],
                       [3, 3, 3, 3, 3]])
    # Rows 0-1: only (r, 2) has a different right neighbour. Row 2: (2, 0..3) differ from the
    # 3s below (and (2, 2) from its right); (2, 4) is in the last column, where only the bottom
    # neighbour counts: 2 vs 3 -> boundary. Row 3 is the last row: no right neighbour differs.
    expected = np.array([[0, 0, 1, 0, 0],
                         [0, 0, 1, 0, 0],
                         [1, 1, 1, 1, 1],
                         [0, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(seg2bmap(labels), expected)
    # Already one pixel wide: the three end points fail G2 (n1 = 1), the line pixels have
    # X_H = 2 and the junction (2, 2) fails G3 (x1 = x3 = 1) and G3' (x5 = 1, x4 = 0).
    np.testing.assert_array_equal(seism_boundary_gt(labels), expected.astype(np.uint8))


def test_seism_gt_thins_a_staircase():
    labels = np.array([[1, 2, 2],
                       [1, 1, 2],
                       [1, 1, 1]])
    # seg2bmap: (0,0) right 2; (0,1) bottom 1; (1,1) right 2; (1,2) last column, bottom 1.
    # (0,2) last column, bottom 2: no. (1,0): right, bottom, bottom-right all 1: no.
    bmap = np.array([[1, 1, 0],
                     [0, 1, 1],
                     [0, 0, 0]], bool)
    np.testing.assert_array_equal(seg2bmap(labels), bmap)
    # Pass 1, sub-iteration 1: (0,1) has x1 = 0 (G3), W, S, SE set: X_H = 1 (i=2: x3 = 0,
    # x5 = 1), n1 = 0 + 0 + 1 + 1 = 2, n2 = 0 + 1 + 1 + 1 = 3 -> deleted. (0,0) and (1,2) are
    # end points (n2 = 1, resp. n2 = 1); (1,1) has x1 = x3 = 1 (G3 fails).
    # Sub-iteration 2 then pass 2 delete nothing: (1,1) now has X_H = 2 ((0,0) and (1,2) are
    # only linked through it), (0,0) is an end point, and (1,2) has x5 = 1, x4 = 0 (G3' fails).
    np.testing.assert_array_equal(seism_boundary_gt(labels),
                                  np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], np.uint8))


def test_seg2bmap_rejects_non_2d():
    with pytest.raises(ValueError, match='2-D label map'):
        seg2bmap(np.zeros((2, 3, 4)))


def test_pascal_evaluation_gt_follows_seism(tmp_path):
    # LabelMap: class 440 left of column 12, 360 from column 12 on (24 x 32).
    h, w = 24, 32
    root = write_pascal_fixture(tmp_path / 'PASCALContext', num_train=1, num_val=1,
                                size=(h, w))
    name = (root / 'ImageSets' / 'Context' / 'val.txt').read_text().split()[0]
    label_map = np.full((h, w), 440, np.uint16)
    label_map[:, 12:] = 360
    write_label_map_mat(root / 'pascal-context' / 'trainval' / f'{name}.mat', label_map)
    load = [dict(type='LoadImageFromFile'), dict(type='LoadMultiTaskAnnotations')]

    # Evaluation (test_mode): seg2bmap marks column 11 in every row (the last row through its
    # right neighbour); a straight one-pixel line is left as is by the thinning.
    evaluated = PascalContextMultiTaskDataset(data_root=str(root), split='val', tasks=['edge'],
                                              test_mode=True, pipeline=load)[0]['gt_edge']
    expected = np.zeros((h, w), np.uint8)
    expected[:, 11] = 1
    np.testing.assert_array_equal(evaluated, expected)

    # Training keeps the official loader's target: the Laplacian band (columns 11 and 12)
    # thinned, which is not the SEISM map.
    trained = PascalContextMultiTaskDataset(data_root=str(root), split='val', tasks=['edge'],
                                            pipeline=load)[0]['gt_edge']
    assert not trained[:, :11].any() and not trained[:, 13:].any()
    assert not np.array_equal(trained, expected)


def test_metric_reports_nan_for_nan_boundary_predictions():
    gt = np.zeros((12, 12), np.uint8)
    gt[3:9, 4] = 1
    pred = gt.astype(np.float32)
    pred[0, 0] = np.nan
    counts = boundary_match_counts(pred, gt, np.array([0.5]))
    assert (counts == -1).all()
    metric = MultiTaskMetric(tasks=['edge'], edge_thresholds=3)
    metric.dataset_meta = dict(edge_tolerance=0.1)
    metric.process({}, [{'gt_edge': {'data': gt[None]}, 'pred_edge': {'data': pred[None]}}])
    out = metric.compute_metrics(metric.results)
    assert all(np.isnan(out[f'edge/{k}']) for k in ('odsF', 'oisF', 'AP'))
