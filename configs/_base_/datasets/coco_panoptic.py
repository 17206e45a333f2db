# COCO panoptic 2017 (133 classes); layout in CocoPanopticDataset's docstring.
# Training, as kMaX-DeepLab's dataset mapper: large-scale jitter (scale 0.2-2.0 of the crop),
# random crop, flip, photometric distortion and copy-paste. Testing: longer side resized to
# 1281; the data preprocessor pads to 1281x1281.
dataset_type = 'CocoPanopticDataset'
data_root = 'data/coco/'
crop_size = (1281, 1281)
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
            dict(type='PanopticLargeScaleJitter', crop_size=crop_size, ratio_range=(0.2, 2.0),
                 backend='pillow'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PhotoMetricDistortion'),
        ],
        paste_pipeline=[
            dict(type='PanopticLargeScaleJitter', crop_size=crop_size, ratio_range=(0.1, 1.0),
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
    dict(type='Resize', scale=crop_size, keep_ratio=True, backend='pillow'),
    # loaded after Resize: the ground truth stays at the original size for evaluation
    dict(type='LoadPanopticSegAnnotations'),
    dict(type='PackPanopticInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='MultiImageMixDataset',
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file='annotations/panoptic_train2017.json',
            data_prefix=dict(img_path='train2017/',
                             seg_map_path='annotations/panoptic_train2017/'),
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
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img_path='val2017/', seg_map_path='annotations/panoptic_val2017/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PanopticQualityMetric')
test_evaluator = val_evaluator
