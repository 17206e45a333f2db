# kMaX-DeepLab, ResNet-50, Cityscapes panoptic: 60k iterations, 8 GPUs x 4 images (batch 32),
# 1025x2049 crops, AdamW lr 3e-4, 256 cluster centres, 5k warm-up + poly decay, AMP.
# Paper: 64.3 PQ, 79.7 mIoU; official PyTorch release: 63.5 PQ, 79.5 mIoU.
_base_ = [
    '../_base_/models/kmax_r50.py', '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/default_runtime.py'
]
crop_size = (1025, 2049)
max_iters = 60000
# The official configs/cityscapes/panoptic_segmentation/kmax_r50.yaml is not in this project's
# searchable index; two forks carry copies (README "Recipe vs official"). Where they agree,
# mmdense follows them: pixel instance discrimination temperature 0.6, the panoptic inference
# thresholds and the model below. The model differs from COCO's in three places:
# - OUT_FEATURES / PIXEL_DEC.IN_FEATURES [stem, res2, res3, res4, res5]: the ResNet stem (64
#   channels, stride 4 after the max pool) is a fifth pixel-decoder input. detectron2 orders
#   the inputs by stride with a stable sort, so the stages read res5, res4, res3, stem, res2
#   (in_index below; backbone outputs are stem, res2, ..., res5), DEC_LAYERS [1, 5, 1, 1, 1],
#   DEC_CHANNELS [512, 256, 128, 64, 32], and the final feature has 32 x 4 = 128 channels
#   (TRANS_DEC.IN_CHANNELS [2048, 1024, 512, 128]). Masks stay at stride 4.
# - USE_AUX_SEMANTIC_DECODER False with AUX_SEMANTIC_WEIGHT 1.0: the auxiliary semantic loss
#   stays, on a light head over res5 (5x5 depthwise, 1x1 to 256, 1x1 to 19 classes) instead of
#   the Panoptic-DeepLab decoder; AUX_SEMANTIC_SAMPLE_K 0 (every pixel),
#   AUX_SEMANTIC_TEMPERATURE 1.0 (unused when every pixel is taken).
# - NUM_OBJECT_QUERIES 256.
model = dict(
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size=crop_size)),
    backbone=dict(type='ResNetWithStem'),
    decode_head=dict(
        num_classes=19,
        in_channels=(64, 256, 512, 1024, 2048),
        pixel_decoder=dict(
            in_index=(4, 3, 2, 0, 1),
            dec_layers=(1, 5, 1, 1, 1),
            dec_channels=(512, 256, 128, 64, 32),
            layer_types=('axial', 'axial', 'bottleneck', 'bottleneck', 'bottleneck')),
        transformer_decoder=dict(in_channels=(2048, 1024, 512, 128), num_queries=256),
        aux_semantic_decoder=False,
        criterion=dict(pixel_insdis_temperature=0.6, aux_semantic_sample_k=0,
                       aux_semantic_temperature=1.0)),
    # person ... bicycle are things; the semantic output is evaluated (mIoU) too
    test_cfg=dict(thing_class_ids=list(range(11, 19)), semantic_on=True,
                  class_threshold_thing=0.5, class_threshold_stuff=0.3,
                  reorder_mask_weight=0.0, overlap_threshold=0.9))
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=False, begin=0, end=5001),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters + 1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3,
                    save_best='PQ', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
visualizer = dict(type='PanopticLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
train_dataloader = dict(batch_size=4)  # x 8 GPUs = 32
# The lr is for 32 images per iteration (SOLVER.IMS_PER_BATCH); `tools/train.py
# --auto-scale-lr` rescales it linearly to the actual GPUs x batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=32)
