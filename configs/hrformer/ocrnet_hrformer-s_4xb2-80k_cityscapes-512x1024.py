# HRFormer-S + OCR on Cityscapes (official scripts/cityscapes/hrt/run_hrt_small_ocr_v2_ohem.sh:
# 80k iterations, batch 8, 512x1024 crops; official 80.0 mIoU single-scale on val).
# OHEM (threshold 0.9, at least 100k pixels) on the OCR head, as the official loss.
# The official loss also weights the classes (ce_weight of configs/cityscapes/H_48_D_4.json);
# mmseg 1.2.2's CrossEntropyLoss(class_weight=...) fails on ignored (255) pixels
# (open-mmlab/mmsegmentation#3734), so this config leaves the weights out.
_base_ = ['./_base_/ocrnet_hrformer-s.py', '../_base_/datasets/cityscapes.py']
crop_size = (512, 1024)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=[
        dict(_base_.model.decode_head[0], num_classes=19),
        dict(
            _base_.model.decode_head[1],
            num_classes=19,
            sampler=dict(type='OHEMPixelSampler', thresh=0.9, min_kept=100000)),
    ])
train_dataloader = dict(batch_size=2)
