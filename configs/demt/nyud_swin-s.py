# DeMT, Swin-S, NYUD-v2: the HRNet config with the backbone swapped.
# Initialised, as the official code, from mmseg's ADE20K UperNet Swin-S checkpoint
# (ImageNet-1K pretrained; yangyangxu0/DeMT src/model/backbones/swin.py:13): its
# 'backbone.*' weights, output norms norm0-3 included; mmseg's SwinTransformer strips the prefix
# and drops the decode/auxiliary heads. Drop path 0.1: the official swin_s() keeps the
# SwinTransformer default (swin.py:781), as every official Swin size.
_base_ = './nyud_hrnet.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=96,
        depths=[2, 2, 18, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        drop_path_rate=0.1,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/swin/'
            'upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K/'
            'upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K_'
            '20210526_192015-ee2fff1c.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768]))
