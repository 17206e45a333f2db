# HRFormer-S backbone (official HRNet/HRFormer HRT small: pose/configs/top_down/hrt/coco/
# hrt_small_coco_256x192.py and seg/configs/*/H_48_D_4.json with hrt_small.yaml), in MMPose's
# HRFormer layout, as mmdense's OfficialHRFormer. The method configs set what differs between
# the official pose and segmentation codes: drop path, extra.with_rpe, extra.upsample,
# stage4.multiscale_output (and the scope or norm_eval).
model = dict(
    backbone=dict(
        type='OfficialHRFormer',
        in_channels=3,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(2, ),
                num_channels=(64, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='HRFORMERBLOCK',
                num_blocks=(2, 2),
                num_channels=(32, 64),
                num_heads=[1, 2],
                mlp_ratios=[4, 4],
                window_sizes=[7, 7]),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block='HRFORMERBLOCK',
                num_blocks=(2, 2, 2),
                num_channels=(32, 64, 128),
                num_heads=[1, 2, 4],
                mlp_ratios=[4, 4, 4],
                window_sizes=[7, 7, 7]),
            stage4=dict(
                num_modules=2,
                num_branches=4,
                block='HRFORMERBLOCK',
                num_blocks=(2, 2, 2, 2),
                num_channels=(32, 64, 128, 256),
                num_heads=[1, 2, 4, 8],
                mlp_ratios=[4, 4, 4, 4],
                window_sizes=[7, 7, 7, 7])),
        # ImageNet-pretrained HRFormer-S in the MMPose layout; the official hrt_small.pth
        # loads after tools/model_converters/hrformer2mmdense.py
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrformer_small-09516375_20220226.pth')))
