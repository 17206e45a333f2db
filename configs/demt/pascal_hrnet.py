# DeMT, HRNet-18 (DeMT's HRNet18-S), PASCAL-Context (semseg, human parts, saliency, normals,
# edge), 40k iterations at a total batch of 8, SGD lr 1e-3, crops 512x512.
_base_ = [
    '../_base_/models/demt_hrnet18.py',
    '../_base_/datasets/pascal_context_multitask.py',
    '../_base_/demt_pascal_runtime.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_demt_40k.py',
]
# Draws the input and every task (tools/test.py --show-dir).
visualizer = dict(type='MultiTaskVisualizer')
model = dict(
    head=dict(
        tasks=['semseg', 'human_parts', 'sal', 'normals', 'edge'],
        task_channels=dict(
            _delete_=True, semseg=21, human_parts=7, sal=2, normals=3, edge=1)),
    losses=dict(
        _delete_=True,
        semseg=dict(type='DenseCrossEntropyLoss', loss_weight=1.0),
        human_parts=dict(type='DenseCrossEntropyLoss', loss_weight=2.0),
        sal=dict(type='DenseCrossEntropyLoss', balanced=True, loss_weight=5.0),
        normals=dict(type='MaskedL1Loss', normalize=True, loss_weight=10.0),
        edge=dict(type='BalancedBinaryCrossEntropyLoss', pos_weight=0.95, loss_weight=50.0)))
