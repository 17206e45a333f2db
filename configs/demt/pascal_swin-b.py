# DeMT, Swin-B, PASCAL-Context: the HRNet config with the backbone swapped.
# Initialised, as the official code, from mmseg's ADE20K UperNet Swin-B checkpoint
# (ImageNet-22K pretrained; yangyangxu0/DeMT src/model/backbones/swin.py:12): its
# 'backbone.*' weights, output norms norm0-3 included; mmseg's SwinTransformer strips the prefix
# and drops the decode/auxiliary heads. Drop path 0.1: the official swin_b() keeps the
# SwinTransformer default (swin.py:781), as every official Swin size.
_base_ = './pascal_hrnet.py'
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
        drop_path_rate=0.1,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/swin/'
            'upernet_swin_base_patch4_window7_512x512_160k_ade20k_pretrain_224x224_22K/'
            'upernet_swin_base_patch4_window7_512x512_160k_ade20k_pretrain_224x224_22K_'
            '20210526_211650-762e2178.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]))
