# DeMT, HRNet-18 (DeMT's HRNet18-S), PASCAL-Context (semseg, human parts, saliency, normals,
# edge), 40k iterations at a total batch of 8, SGD lr 1e-3, crops 512x512. The recipe against
# the official code, field by field: configs/demt/README.md ("Recipe vs official").
_base_ = [
    '../_base_/models/demt_hrnet18.py',
    '../_base_/datasets/pascal_context_multitask.py',
    '../_base_/demt_pascal_runtime.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_demt_40k.py',
]
# Draws the input and every task (tools/test.py --show-dir).
visualizer = dict(type='MultiTaskVisualizer')
crop_size = _base_.crop_size
model = dict(
    # The normalised image is padded with 0, centred, to 512x512 in training and testing alike
    # (official PadImage, src/data/pl_data.py:37 and :43).
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(
        tasks=['semseg', 'human_parts', 'sal', 'normals', 'edge'],
        task_channels=dict(
            _delete_=True, semseg=21, human_parts=7, sal=2, normals=3, edge=1)),
    losses=dict(
        _delete_=True,
        semseg=dict(type='DenseCrossEntropyLoss', loss_weight=1.0),
        human_parts=dict(type='DenseCrossEntropyLoss', loss_weight=2.0),
        sal=dict(type='DenseCrossEntropyLoss', balanced=True, loss_weight=5.0),
        normals=dict(type='MaskedL1Loss', normalize=True, loss_weight=10.0),
        # edge pos_weight 0.95: src/data/pascal_context.py:54
        edge=dict(type='BalancedBinaryCrossEntropyLoss', pos_weight=0.95, loss_weight=50.0)))
