# DeMT, HRNet-18 (DeMT's HRNet18-S), NYUD-v2 (semseg, depth, normals, edge), 40k iterations at a
# total batch of 8 (8 GPUs x 1), SGD lr 1e-3, crops 425x560.
_base_ = [
    '../_base_/models/demt_hrnet18.py',
    '../_base_/datasets/nyud_multitask.py',
    '../_base_/demt_nyud_runtime.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_demt_40k.py',
]
# Draws the input and every task (tools/test.py --show-dir).
visualizer = dict(type='MultiTaskVisualizer')
model = dict(losses=dict(edge=dict(pos_weight=0.8)))  # DeMT's NYUD boundary weight
