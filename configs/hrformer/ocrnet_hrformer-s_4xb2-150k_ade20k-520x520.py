# HRFormer-S + OCR on ADE20K (official seg/scripts/ade20k/hrt/run_hrt_small_ocr_v2_ohem.sh with
# seg/configs/ade20k/H_48_D_4.json; official 44.0 mIoU single-scale on val, batch 8 in the
# official README). The recipe field by field, with the official file and line, is in README.md
# ("Recipe vs official").
_base_ = ['./_base_/ocrnet_hrformer-s.py', '../_base_/datasets/ade20k.py']
crop_size = (520, 520)
# "resize": {"min_side_length": 520} of the official train and val transforms (bicubic); the
# long-side bound 4096 never applies to ADE20K images
img_scale = (4096, 520)
model = dict(
    # the official val/test collate pads right/down to a multiple of 8 ("fit_stride": 8)
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=8)),
    decode_head=[
        dict(_base_.model.decode_head[0], num_classes=150),
        # loss_type fs_auxohemce_loss: OHEM (ohem_thresh 0.9, ohem_minkeep 100000) averaged
        # over the kept pixels, no class weights
        dict(
            _base_.model.decode_head[1],
            num_classes=150,
            loss_decode=dict(
                type='OhemCrossEntropyLoss', thresh=0.9, min_kept=100000, loss_weight=1.0)),
    ])
# train_trans of H_48_D_4.json in its order: random_hflip, resize (short side 520, bicubic),
# random_resize (scale 0.5-2, aspect 0.9-1.1, bicubic), random_crop (no class-ratio check),
# random_brightness (+-10), then the collate's padding at a random position with the mean colour
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=img_scale, keep_ratio=True, interpolation='bicubic'),
    dict(type='RandomScaleAspectResize', scale_range=(0.5, 2.0), aspect_range=(0.9, 1.1),
         interpolation='bicubic'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomBrightnessShift', max_shift=10),
    dict(type='RandomPositionPad', size=crop_size, pad_val=_base_.mean, seg_pad_val=255),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True, interpolation='bicubic'),
    # annotations are loaded after Resize: the metric compares at the original size
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
# --test_interval 10000 of the official script; its test branch evaluates the last checkpoint
train_cfg = dict(max_iters=150000, val_interval=10000)
default_hooks = dict(checkpoint=dict(interval=10000))
# multi-scale + flip test of H_48_D_4_TEST_MS3x.json ("scale_search": [0.75, 1, 1.25] of the
# image at short side 520); used with tools/test.py --tta
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='Resize', scale=(4096, round(520 * r)), keep_ratio=True,
                   interpolation='bicubic') for r in (0.75, 1.0, 1.25)],
             [dict(type='RandomFlip', prob=0., direction='horizontal'),
              dict(type='RandomFlip', prob=1., direction='horizontal')],
             [dict(type='LoadAnnotations', reduce_zero_label=True)],
             [dict(type='PackSegInputs')],
         ]),
]
