# kMaX-DeepLab, ConvNeXt-S, COCO panoptic. Paper: 56.3 PQ; official PyTorch release: 56.7 PQ.
_base_ = './kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py'
pretrained = 'pretrained/convnext_small_22k_mmdense.pth'
model = dict(
    backbone=dict(
        arch='small',
        # drop_path_keep_prob 0.6: deeplab2 configs/coco/kmax_deeplab/
        # kmax_meta_convnext_small_os32.textproto:28
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=(96, 192, 384, 768)))
