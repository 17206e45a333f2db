# kMaX-DeepLab, ConvNeXt-B, COCO panoptic. Paper: 57.2 PQ; official PyTorch release: 57.2 PQ.
_base_ = './kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py'
pretrained = 'pretrained/convnext_base_22k_mmdense.pth'
model = dict(
    backbone=dict(
        arch='base',
        # drop_path_keep_prob 0.5: deeplab2 configs/coco/kmax_deeplab/
        # kmax_meta_convnext_base_os32.textproto:28
        drop_path_rate=0.5,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=(128, 256, 512, 1024)))
