# kMaX-DeepLab, ConvNeXt-L, COCO panoptic (drop path 0.6: drop_path_keep_prob 0.4 of deeplab2
# configs/coco/kmax_deeplab/kmax_meta_convnext_large_os32.textproto:28; bytedance/kmax-deeplab
# kmax_deeplab/config.py MODEL.CONVNEXT.DROP_PATH_RATE 0.6). Paper: 57.9 PQ; official PyTorch release: 57.9 PQ.
_base_ = './kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py'
pretrained = 'pretrained/convnext_large_22k_mmdense.pth'
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.6,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=(192, 384, 768, 1536)))
