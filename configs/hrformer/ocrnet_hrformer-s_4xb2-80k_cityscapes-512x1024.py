# HRFormer-S + OCR on Cityscapes (official seg/scripts/cityscapes/hrt/run_hrt_small_ocr_v2_ohem.sh
# with seg/configs/cityscapes/H_48_D_4.json; official 80.0 mIoU single-scale on val). The recipe
# field by field, with the official file and line, is in README.md ("Recipe vs official").
_base_ = ['./_base_/ocrnet_hrformer-s.py', '../_base_/datasets/cityscapes.py']
crop_size = (512, 1024)
# "ce_weight" of H_48_D_4.json: used by both the auxiliary and the OHEM loss
class_weight = [
    0.8373, 0.9180, 0.8660, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023, 0.9539,
    0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507
]
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=[
        dict(
            _base_.model.decode_head[0],
            num_classes=19,
            loss_decode=dict(
                type='WeightedMeanCrossEntropyLoss', class_weight=class_weight,
                loss_weight=0.4)),
        # loss_type fs_auxohemce_loss: OHEM (ohem_thresh 0.9, ohem_minkeep 100000) averaged
        # over the kept pixels
        dict(
            _base_.model.decode_head[1],
            num_classes=19,
            loss_decode=dict(
                type='OhemCrossEntropyLoss', thresh=0.9, min_kept=100000,
                class_weight=class_weight, loss_weight=1.0)),
    ])
# train_trans of H_48_D_4.json in its order: random_resize (scale 0.5-2, aspect 0.9-1.1,
# bicubic), random_crop (no class-ratio check), random_hflip, random_brightness (+-10), then the
# collate's padding at a random position ("pad_mode": "random") with the mean colour
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomScaleAspectResize', scale_range=(0.5, 2.0), aspect_range=(0.9, 1.1),
         interpolation='bicubic'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomBrightnessShift', max_shift=10),
    dict(type='RandomPositionPad', size=crop_size, pad_val=_base_.mean, seg_pad_val=255),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
# solver.test_interval 1000 of H_48_D_4.json; the official trainer keeps the checkpoint with the
# best val mIoU (save_mode='performance'), which the val script then evaluates
train_cfg = dict(val_interval=1000)
default_hooks = dict(
    checkpoint=dict(interval=8000, save_best='mIoU', rule='greater'))
# multi-scale + flip test of H_48_D_4_TEST_MS3x.json ("scale_search": [0.75, 1.0, 1.25]); used
# with tools/test.py --tta
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
             [dict(type='RandomFlip', prob=0., direction='horizontal'),
              dict(type='RandomFlip', prob=1., direction='horizontal')],
             [dict(type='LoadAnnotations')],
             [dict(type='PackSegInputs')],
         ]),
]
