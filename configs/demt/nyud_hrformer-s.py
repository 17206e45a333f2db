# DeMT, HRFormer-S, NYUD-v2: the HRNet config with the backbone swapped (no published DeMT
# result). The backbone is the segmentation HRFormer-S of configs/hrformer/_base_/
# ocrnet_hrformer-s.py: relative position bias added, nearest + exact-size (align_corners=True)
# fuse upsampling, all four branches returned (32/64/128/256 channels at strides 4-32), drop
# path 0.2 as the official segmentation recipe.
_base_ = './nyud_hrnet.py'
# The official ImageNet-1k HRFormer-S weights (hrt_small.pth), converted with
#   python tools/model_converters/hrformer2mmdense.py hrt_small.pth <this path>
# MMPose's release, already in this layout, works too: https://download.openmmlab.com/mmpose/
# pretrain_models/hrformer_small-09516375_20220226.pth
checkpoint_file = 'pretrained/hrformer-s_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='OfficialHRFormer',
        in_channels=3,
        norm_cfg=_base_.norm_cfg,
        norm_eval=False,
        extra=dict(
            drop_path_rate=0.2,
            with_rpe=True,
            upsample=dict(mode='nearest', align_corners=None, resize_align_corners=True),
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(2, ),
                        num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='HRFORMERBLOCK', num_blocks=(2, 2),
                        num_channels=(32, 64), num_heads=[1, 2], mlp_ratios=[4, 4],
                        window_sizes=[7, 7]),
            stage3=dict(num_modules=4, num_branches=3, block='HRFORMERBLOCK',
                        num_blocks=(2, 2, 2), num_channels=(32, 64, 128), num_heads=[1, 2, 4],
                        mlp_ratios=[4, 4, 4], window_sizes=[7, 7, 7]),
            stage4=dict(num_modules=2, num_branches=4, block='HRFORMERBLOCK',
                        num_blocks=(2, 2, 2, 2), num_channels=(32, 64, 128, 256),
                        num_heads=[1, 2, 4, 8], mlp_ratios=[4, 4, 4, 4],
                        window_sizes=[7, 7, 7, 7], multiscale_output=True)),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[32, 64, 128, 256]))
