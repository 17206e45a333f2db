# kMaX-DeepLab, ConvNeXt-T (timm), COCO panoptic; schedule as the ResNet-50 config.
# Paper: 55.3 PQ; official PyTorch release: 55.5 PQ.
_base_ = './kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py'
# ImageNet-22k ConvNeXt weights (facebookresearch/kMaX layout, or timm's) converted with
#   python tools/model_converters/kmax2mmdense.py convnext_tiny_22k_224.pth <this path>
pretrained = 'pretrained/convnext_tiny_22k_mmdense.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmConvNeXt',
        arch='tiny',
        # drop_path_keep_prob 0.7 of google-research/deeplab2
        # configs/coco/kmax_deeplab/kmax_meta_convnext_tiny_os32.textproto:28 (the paper's
        # config; S/B/L: 0.6/0.5/0.4 in the same files).
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        deeplab_padding=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=(96, 192, 384, 768)))
# detectron2 rules for timm's ConvNeXt names: no weight decay on norms, biases and layer scales.
backbone_no_decay = dict(lr_mult=0.1, decay_mult=0.0)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        '_delete_': True,
        'backbone': dict(lr_mult=0.1),
        'stem.0.bias': backbone_no_decay,
        'stem.1.weight': backbone_no_decay,
        'stem.1.bias': backbone_no_decay,
        'downsample.0': backbone_no_decay,  # LayerNorm before the 2x2 conv
        'downsample.1.bias': backbone_no_decay,
        'conv_dw.bias': backbone_no_decay,
        '.norm.weight': backbone_no_decay,
        '.norm.bias': backbone_no_decay,
        '.fc1.bias': backbone_no_decay,
        '.fc2.bias': backbone_no_decay,
        # layer scale: 'gamma' of blocks 0..26 (ConvNeXt-S/B/L have 27 blocks in stage 3).
        # mmengine applies the longest matching key, ties in sorted order: '.i.gamma' keys of 8
        # characters sort before 'backbone' ('.gamma' alone would lose to it).
        **{f'.{i}.gamma': backbone_no_decay for i in range(27)},
        'in_norms': dict(decay_mult=0.0),
        'rpe': dict(decay_mult=0.0),
        'cluster_centers': dict(decay_mult=0.0),
    }))
