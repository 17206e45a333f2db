# OCRNet on HRFormer-S (official seg/ HRT_SMALL_OCR_V2) with the official AdamW recipe; the
# dataset configs set num_classes, the crop size and the schedule length.
#
# Backbone as the official segmentation HRT: the relative position bias is added, the fuse
# layers upsample with nearest + an exact-size bilinear resize (align_corners=True), and all four
# branches are returned. Heads as HRT_SMALL_OCR_V2: the four branches are resized to 1/4 and
# concatenated (480 channels); an auxiliary FCN head (3x3 conv to 512 + 1x1 classifier, loss
# x0.4) gives the soft object regions of the OCR head (3x3 conv to 512, 256-channel object
# attention, dropout 0.05, 1x1 classifier). Resizing uses align_corners=True throughout, as the
# official code.
_base_ = [
    '../../_base_/default_runtime.py', '../../_base_/schedules/schedule_80k.py',
    '../../_base_/models/hrformer-s.py'
]

norm_cfg = dict(type='SyncBN', requires_grad=True)
# The official code reads images with cv2 and keeps them BGR ("input_mode": "BGR") but normalises
# them with the RGB ImageNet mean/std in that order ("normalize" of configs/*/H_48_D_4.json): the
# blue channel gets the red mean. mmcv loads BGR too, so no channel swap here.
mean = [123.675, 116.28, 103.53]
std = [58.395, 57.12, 57.375]
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=mean,
    std=std,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255)
in_channels = [32, 64, 128, 256]
model = dict(
    type='CascadeEncoderDecoder',
    data_preprocessor=data_preprocessor,
    num_stages=2,
    backbone=dict(
        # the HRFormer-S architecture and ImageNet weights come from _base_/models/hrformer-s.py
        norm_cfg=norm_cfg,
        norm_eval=False,
        extra=dict(
            drop_path_rate=0.2,
            with_rpe=True,
            upsample=dict(mode='nearest', align_corners=None, resize_align_corners=True),
            stage4=dict(multiscale_output=True))),
    decode_head=[
        dict(
            type='FCNHead',
            in_channels=in_channels,
            in_index=(0, 1, 2, 3),
            input_transform='resize_concat',
            channels=512,
            kernel_size=3,
            num_convs=1,
            concat_input=False,
            dropout_ratio=-1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=True,
            # openseg FSCELoss: PyTorch mean over the labelled pixels, per image
            loss_decode=dict(type='WeightedMeanCrossEntropyLoss', loss_weight=0.4)),
        dict(
            type='OCRHead',
            in_channels=in_channels,
            in_index=(0, 1, 2, 3),
            input_transform='resize_concat',
            channels=512,
            ocr_channels=256,
            dropout_ratio=0.05,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=True,
            loss_decode=dict(type='WeightedMeanCrossEntropyLoss', loss_weight=1.0)),
    ],
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

# AdamW 1e-4, weight decay 0.01 on conv and linear weights only (the official
# group_method='decay': no decay on biases, norms and relative position tables),
# 1500-iteration linear warm-up from 1e-6, then poly decay (power 0.9) to 0.
# Mixed precision as the official trainer (torch.cuda.amp autocast + GradScaler); on a machine
# without CUDA tools/train.py turns this into bf16 autocast.
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=1500, end=80000),
]
