# HRFormer-B on COCO at 256x192 (paper: 75.6 AP): the HRFormer-S recipe with the base widths
# (78/156/312/624 channels, 2/4/8/16 heads) and drop path 0.2 (official hrt_base_coco_256x192.py).
_base_ = ['./td-hm_hrformer-small_8xb32-210e_coco-256x192.py']

model = dict(
    backbone=dict(
        extra=dict(
            drop_path_rate=0.2,
            stage2=dict(num_channels=(78, 156), num_heads=[2, 4]),
            stage3=dict(num_channels=(78, 156, 312), num_heads=[2, 4, 8]),
            stage4=dict(num_channels=(78, 156, 312, 624), num_heads=[2, 4, 8, 16])),
        # ImageNet-pretrained HRFormer-B in the MMPose layout; the official hrt_base.pth
        # loads after tools/model_converters/hrformer2mmdense.py
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrformer_base-32815020_20220226.pth')),
    head=dict(in_channels=78))
