# NYUD-v2 multi-task (semseg, depth, normals, edge) in the ATRC/DeMT layout; see data/README.md.
# The pipeline follows the official DeMT one (yangyangxu0/DeMT src/data/pl_data.py:31-46); the
# image is padded after normalisation by the model's data preprocessor (see nyud_hrnet.py).
dataset_type = 'NYUDv2MultiTaskDataset'
data_root = 'data/NYUDv2'
tasks = ['semseg', 'depth', 'normals', 'edge']
crop_size = (425, 560)  # (h, w): the full NYUD-v2 frame, DeMT's image_dims (src/data/nyud.py:24)
train_pipeline = [
    # Pillow decodes the image, as the official PIL loader (src/data/nyud.py, _load_img).
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='LoadMultiTaskAnnotations'),
    # Each image is scaled by r ~ U(0.5, 2.0) of its own size and depth divided by r, as
    # DeMT's RandomScaling (src/data/transforms.py:52 and :61).
    dict(type='MultiTaskRandomResize', ratio_range=(0.5, 2.0), rescale_depth=True),
    dict(type='MultiTaskRandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    # No pad here: PadImage comes after Normalize in the official pipeline (pl_data.py:36-37),
    # so the data preprocessor pads the normalised image with 0, centred, to crop_size.
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='PackMultiTaskInputs'),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', tasks=tasks,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', tasks=tasks,
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
