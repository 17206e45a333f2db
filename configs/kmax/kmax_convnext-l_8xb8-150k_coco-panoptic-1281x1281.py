# kMaX-DeepLab, ConvNeXt-L, COCO panoptic (drop path 0.6 as DeepLab2's
# kmax_meta_convnext_large_os32). Paper: 57.9 PQ; official PyTorch release: 57.9 PQ.
_base_ = './kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py'
pretrained = 'pretrained/convnext_large_22k_mmdense.pth'
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.6,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=(192, 384, 768, 1536)))
