# DeMT, HRNet-18 (DeMT's HRNet18-S), NYUD-v2 (semseg, depth, normals, edge), 40k iterations at a
# total batch of 8 (8 GPUs x 1), SGD lr 1e-3, crops 425x560. The recipe against the official
# code, field by field: configs/demt/README.md ("Recipe vs official").
_base_ = [
    '../_base_/models/demt_hrnet18.py',
    '../_base_/datasets/nyud_multitask.py',
    '../_base_/demt_nyud_runtime.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_demt_40k.py',
]
# Draws the input and every task (tools/test.py --show-dir).
visualizer = dict(type='MultiTaskVisualizer')
crop_size = _base_.crop_size
model = dict(
    # The normalised image is padded with 0, centred, to the 425x560 crop in training and
    # testing alike (official PadImage, src/data/pl_data.py:37 and :43).
    data_preprocessor=dict(size=crop_size),
    losses=dict(edge=dict(pos_weight=0.8)))  # DeMT's NYUD boundary weight (src/data/nyud.py:21)
