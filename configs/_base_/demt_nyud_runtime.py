# Evaluation shared by the DeMT NYUD-v2 configs.
# Boundary odsF with the BSDS matching costs ~1 s per threshold per image: validation during
# training uses 9 thresholds (an estimate); tools/test.py uses the full 99 (the paper's number).
# Class counts and the boundary tolerance (0.011) come from the dataset's metainfo
# (NYUDv2MultiTaskDataset.METAINFO), as mmseg's metrics take theirs.
val_evaluator = dict(
    type='MultiTaskMetric',
    tasks=['semseg', 'depth', 'normals', 'edge'],
    edge_thresholds=9, edge_num_workers=2)
test_evaluator = dict(
    type='MultiTaskMetric',
    tasks=['semseg', 'depth', 'normals', 'edge'],
    edge_thresholds=99, edge_num_workers=4)
# The official main.py seeds everything with 0 (src/main.py:13, --random_seed default 0).
randomness = dict(seed=0)
