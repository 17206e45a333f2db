# HRFormer-B + OCR on Cityscapes (official seg/scripts/cityscapes/hrt/run_hrt_base_ocr_v2_ohem.sh,
# which exports drop_path_rate=0.4; official 81.4 mIoU single-scale on val with 7x7 windows).
# The HRFormer-S recipe with the base widths (78/156/312/624 channels, 2/4/8/16 heads; the
# concatenated branches have 1170 channels) and drop path 0.4.
_base_ = ['./ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py']
in_channels = [78, 156, 312, 624]
model = dict(
    backbone=dict(
        extra=dict(
            drop_path_rate=0.4,
            stage2=dict(num_channels=(78, 156), num_heads=[2, 4]),
            stage3=dict(num_channels=(78, 156, 312), num_heads=[2, 4, 8]),
            stage4=dict(num_channels=(78, 156, 312, 624), num_heads=[2, 4, 8, 16])),
        # ImageNet-pretrained HRFormer-B in the MMPose layout; the official hrt_base.pth
        # loads after tools/model_converters/hrformer2mmdense.py
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrformer_base-32815020_20220226.pth')),
    decode_head=[
        dict(_base_.model.decode_head[0], in_channels=in_channels),
        dict(_base_.model.decode_head[1], in_channels=in_channels),
    ])
