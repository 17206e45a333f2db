# HRFormer-B on COCO at 384x288 (paper: 77.2 AP): the HRFormer-B recipe with the 384x288 input
# (heatmaps 96x72, sigma 3) and drop path 0.3 (official hrt_base_coco_384x288.py; that file
# sets 8 images per GPU, the paper and this config use 8 x 32).
_base_ = ['./td-hm_hrformer-base_8xb32-210e_coco-256x192.py']

codec = dict(type='MSRAHeatmap', input_size=(288, 384), heatmap_size=(72, 96), sigma=3)

model = dict(backbone=dict(extra=dict(drop_path_rate=0.3)), head=dict(decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    _base_.half_body,
    _base_.scale_rotation,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
