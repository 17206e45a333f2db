# HRFormer-S + OCR on ADE20K (official scripts/ade20k/hrt/run_hrt_small_ocr_v2_ohem.sh: 150k
# iterations, batch 8, OHEM with threshold 0.9 on the OCR head; official 44.0 mIoU single-scale
# on val). As the official data pipeline: short side rescaled to 520, random rescale 0.5-2.0,
# 520x520 crops; tested at short side 520.
_base_ = ['./_base_/ocrnet_hrformer-s.py', '../_base_/datasets/ade20k.py']
crop_size = (520, 520)
img_scale = (4096, 520)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=[
        dict(_base_.model.decode_head[0], num_classes=150),
        dict(
            _base_.model.decode_head[1],
            num_classes=150,
            sampler=dict(type='OHEMPixelSampler', thresh=0.9, min_kept=100000)),
    ])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=1500, end=150000),
]
train_cfg = dict(max_iters=150000, val_interval=10000)
default_hooks = dict(checkpoint=dict(interval=10000))
