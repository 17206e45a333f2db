# Cityscapes panoptic (19 classes, things = person ... bicycle); layout in
# CityscapesPanopticDataset's docstring (cityscapesscripts' createPanopticImgs output).
dataset_type = 'CityscapesPanopticDataset'
data_root = 'data/cityscapes/'
crop_size = (1025, 2049)
# The wrapped dataset only loads; MultiImageMixDataset hands a second random image to
# PanopticCopyPaste, which augments both (the pasted one at half the scale range) and pastes its
# thing segments and a random subset of the others, as kMaX-DeepLab's dataset mapper. Resizing
# uses PIL as detectron2's ResizeScale does (bilinear images, nearest panoptic maps).
load_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadPanopticSegAnnotations')]
train_pipeline = [
    dict(
        type='PanopticCopyPaste',
        crop_size=crop_size,
        main_pipeline=[
            dict(type='PanopticLargeScaleJitter', crop_size=crop_size, ratio_range=(0.5, 2.0),
                 backend='pillow'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PhotoMetricDistortion'),
        ],
        paste_pipeline=[
            dict(type='PanopticLargeScaleJitter', crop_size=crop_size, ratio_range=(0.25, 1.0),
                 backend='pillow'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PhotoMetricDistortion'),
        ]),
    dict(type='PackPanopticInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # detectron2's ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST) resizes uint8 images with
    # PIL's bilinear filter (ResizeTransform), hence the pillow backend.
    dict(type='Resize', scale=(2049, 1025), keep_ratio=True, backend='pillow'),
    dict(type='LoadPanopticSegAnnotations'),
    dict(type='PackPanopticInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='MultiImageMixDataset',
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file='gtFine/cityscapes_panoptic_train.json',
            data_prefix=dict(img_path='leftImg8bit/train',
                             seg_map_path='gtFine/cityscapes_panoptic_train'),
            pipeline=load_pipeline),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='gtFine/cityscapes_panoptic_val.json',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/cityscapes_panoptic_val'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# PQ, and mIoU of the semantic output against the (crowd-inclusive) semantic labels.
val_evaluator = [dict(type='PanopticQualityMetric'), dict(type='IoUMetric', iou_metrics=['mIoU'])]
test_evaluator = val_evaluator
