# DeMT, Swin-B, NYUD-v2: the HRNet config with the backbone swapped.
_base_ = './nyud_hrnet.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/'
            'swin_base_patch4_window7_224_20220317-e9b98025.pth')),
    head=dict(in_channels=[128, 256, 512, 1024]))
