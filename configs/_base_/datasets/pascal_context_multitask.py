# PASCAL-Context multi-task (semseg, human_parts, sal, normals, edge) in the ATRC/DeMT layout;
# see data/README.md.
dataset_type = 'PascalContextMultiTaskDataset'
data_root = 'data/PASCALContext'
tasks = ['semseg', 'human_parts', 'sal', 'normals', 'edge']
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    # Each image is scaled by r ~ U(0.5, 2.0) of its own size, as DeMT's RandomScaling.
    dict(type='MultiTaskRandomResize', ratio_range=(0.5, 2.0)),
    dict(type='MultiTaskRandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    # A crop without any person part carries no human-parts supervision.
    dict(type='IgnoreEmptyHumanParts'),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='MultiTaskPad', size=crop_size),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
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
