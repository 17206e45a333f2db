# kMaX-DeepLab with a ResNet-50 pixel encoder (bytedance/kmax-deeplab kmax_r50.yaml).
# Every BN uses TF DeepLab2's settings (eps 1e-3, momentum 0.01 in PyTorch's convention).
norm_cfg = dict(type='SyncBN', eps=1e-3, momentum=0.01, requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    # Images are zero-padded (after normalisation) at the bottom/right to the fixed size, in
    # training and testing, as the official code does.
    size=(1281, 1281),
    test_cfg=dict(size=(1281, 1281)),
    pad_val=0,
    seg_pad_val=255)
# The ImageNet ResNet-50 the official configs start from (detectron2 "R-50.pkl"), converted
# with  python tools/model_converters/kmax2mmdense.py R-50.pkl <this path>
pretrained = 'pretrained/kmax_r50_in1k_mmdense.pth'
model = dict(
    type='KMaXDeepLab',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 2, 2),
        dilations=(1, 1, 1, 1),
        style='pytorch',  # stride in the 3x3 conv (STRIDE_IN_1X1: False)
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(
        type='KMaXHead',
        in_channels=(256, 512, 1024, 2048),
        num_classes=133,
        norm_cfg=norm_cfg,
        pixel_decoder=dict(
            type='KMaXPixelDecoder',
            dec_layers=(1, 5, 1, 1),
            dec_channels=(512, 256, 128, 64),
            layer_types=('axial', 'axial', 'bottleneck', 'bottleneck'),
            num_heads=8,
            drop_path_rate=0.0),
        transformer_decoder=dict(
            type='KMaXTransformerDecoder',
            in_channels=(2048, 1024, 512, 256),
            dec_layers=(2, 2, 2),
            num_queries=128,
            drop_path_rate=0.2),
        aux_semantic_head=True,
        criterion=dict(
            type='KMaXCriterion',
            class_weight=3.0,
            dice_weight=3.0,
            mask_weight=0.3,
            insdis_weight=1.0,
            aux_semantic_weight=1.0,
            no_object_weight=1e-5,
            share_final_matching=True,
            pixel_insdis_temperature=1.5,
            pixel_insdis_sample_k=4096,
            aux_semantic_temperature=2.0,
            aux_semantic_sample_k=4096,
            masking_void_pixel=True)),
    train_cfg=dict(),
    test_cfg=dict(
        panoptic_on=True,
        semantic_on=False,  # per-pixel class scores (pred_sem_seg) for mIoU/visualisation
        thing_class_ids=list(range(80)),  # COCO: the 80 thing classes come first
        class_threshold_thing=0.7,
        class_threshold_stuff=0.5,
        pixel_confidence_threshold=0.4,
        overlap_threshold=0.8,
        reorder_class_weight=1.0,
        reorder_mask_weight=1.0))

# Optimiser of the official train_net.py (detectron2's build_optimizer with kMaX's rules): AdamW,
# weight decay 0.05 except on norms, biases, the axial-attention position embeddings ('rpe')
# and the cluster centres; backbone lr x0.1. mmengine applies only the longest matching custom
# key, so the backbone's norms get keys of their own ('.'-prefixed keys sort before 'backbone'
# on equal length). Configs set the lr; AMP as the official configs.
backbone_no_decay = dict(lr_mult=0.1, decay_mult=0.0)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    clip_grad=None,  # SOLVER.CLIP_GRADIENTS.ENABLED: False
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            '.bn1.weight': backbone_no_decay,
            '.bn1.bias': backbone_no_decay,
            '.bn2.weight': backbone_no_decay,
            '.bn2.bias': backbone_no_decay,
            '.bn3.weight': backbone_no_decay,
            '.bn3.bias': backbone_no_decay,
            'downsample.1': backbone_no_decay,
            'in_norms': dict(decay_mult=0.0),
            'rpe': dict(decay_mult=0.0),
            'cluster_centers': dict(decay_mult=0.0),
        }))
