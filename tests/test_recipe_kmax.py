"""kMaX-DeepLab configs against the official recipe, field by field; GPU layouts and lr scaling.

Official: bytedance/kmax-deeplab configs/{coco,ade20k}/panoptic_segmentation/kmax_r50.yaml,
the defaults of kmax_deeplab/config.py (add_kmax_deeplab_config), detectron2's defaults
(get_cfg + add_deeplab_config) and train_net.py. configs/kmax/README.md "Recipe vs official"
lists the same fields with line numbers, and the fields where mmdense still differs.
"""
import glob
import importlib.util
import os.path as osp
import re
import sys
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
KMAX = osp.join(REPO, 'configs', 'kmax')
# dataset -> (num_classes, iterations, lr, total batch, crop, LSJ scale range, transformer
# drop path, (thing, stuff class thresholds, reorder mask weight, overlap threshold), queries,
# (auxiliary semantic decoder, pixel instance discrimination temperature))
OFFICIAL = {
    # configs/coco/panoptic_segmentation/kmax_r50.yaml: l.23 classes, l.69 MAX_ITER, l.67
    # BASE_LR, l.66 IMS_PER_BATCH, l.79 IMAGE_SIZE, l.80-81 MIN/MAX_SCALE, l.49 DROP_PATH_PROB,
    # l.56-57 class thresholds, l.47 NUM_OBJECT_QUERIES
    # l.59-60 reorder mask weight and overlap threshold; config.py l.44/46 aux decoder and
    # temperature defaults
    'coco': (133, 150000, 5e-4, 64, (1281, 1281), (0.2, 2.0), 0.2, (0.7, 0.5, 1.0, 0.8), 128,
             (True, 1.5)),
    # configs/ade20k/panoptic_segmentation/kmax_r50.yaml: same lines
    'ade20k': (150, 100000, 5e-4, 64, (1281, 1281), (0.5, 2.0), 0.0, (0.4, 0.4, 1.0, 0.8), 128,
               (True, 1.5)),
    # configs/cityscapes/panoptic_segmentation/kmax_r50.yaml (not in the searchable index; the
    # values on which two forks' copies agree, README): 60k, lr 3e-4, batch 32, 1025x2049,
    # 0.5-2.0, 256 queries, drop path 0.2, thresholds 0.5/0.3, reorder mask weight 0, overlap
    # 0.9, PIXEL_INSDIS_TEMPERATURE 0.6; USE_AUX_SEMANTIC_DECODER False (CITYSCAPES_MODEL)
    'cityscapes': (19, 60000, 3e-4, 32, (1025, 2049), (0.5, 2.0), 0.2, (0.5, 0.3, 0.0, 0.9), 256,
                   (False, 0.6)),
}
# Model structure: backbone type, KMaXHead.in_channels, pixel decoder (in_index, DEC_LAYERS,
# DEC_CHANNELS, LAYER_TYPES), TRANS_DEC.IN_CHANNELS, (AUX_SEMANTIC_TEMPERATURE,
# AUX_SEMANTIC_SAMPLE_K). COCO/ADE20K: the yamls' l.37-49 and config.py l.44-50 defaults.
COCO_MODEL = ('ResNet', (256, 512, 1024, 2048),
              (None, (1, 5, 1, 1), (512, 256, 128, 64),
               ('axial', 'axial', 'bottleneck', 'bottleneck')),
              (2048, 1024, 512, 256), (2.0, 4096))
# The forks' copies of configs/cityscapes/panoptic_segmentation/kmax_r50.yaml (README):
# RESNETS.OUT_FEATURES and PIXEL_DEC.IN_FEATURES [stem, res2, res3, res4, res5] (detectron2's
# stable stride sort feeds the stages res5, res4, res3, stem, res2), DEC_LAYERS [1, 5, 1, 1, 1],
# DEC_CHANNELS [512, 256, 128, 64, 32], LAYER_TYPES [axial x2, bottleneck x3],
# TRANS_DEC.IN_CHANNELS [2048, 1024, 512, 128], AUX_SEMANTIC_TEMPERATURE 1.0,
# AUX_SEMANTIC_SAMPLE_K 0.
CITYSCAPES_MODEL = ('ResNetWithStem', (64, 256, 512, 1024, 2048),
                    ((4, 3, 2, 0, 1), (1, 5, 1, 1, 1), (512, 256, 128, 64, 32),
                     ('axial', 'axial', 'bottleneck', 'bottleneck', 'bottleneck')),
                    (2048, 1024, 512, 128), (1.0, 0))
NAME = re.compile(r'kmax_(?P<backbone>[\w-]+)_(?P<gpus>\d+)xb(?P<batch>\d+)-\d+k_'
                  r'(?P<dataset>[a-z0-9]+)-panoptic-\d+x\d+\.py')


def _configs():
    return sorted(osp.basename(p) for p in glob.glob(osp.join(KMAX, '*.py')))


def _cfg(name):
    return Config.fromfile(osp.join(KMAX, name))


def test_every_config_is_named_by_its_layout():
    names = _configs()
    assert len(names) == 13
    for name in names:
        assert NAME.fullmatch(name), name


@pytest.mark.parametrize('name', _configs())
def test_recipe_matches_official(name):
    match = NAME.fullmatch(name)
    dataset = match['dataset']
    classes, iters, lr, total_batch, crop, scales, drop_path, inference, queries, aux = \
        OFFICIAL[dataset]
    cfg = _cfg(name)
    model = cfg.model
    # PIXEL_MEAN/STD 127.5 (yaml l.7-8), FORMAT RGB (l.82); zero padding to IMAGE_SIZE after
    # normalisation, bottom/right, in training and testing (kmax_model.py forward)
    pre = model.data_preprocessor
    assert (pre.mean, pre.std, pre.bgr_to_rgb, pre.pad_val) == ([127.5] * 3, [127.5] * 3, True, 0)
    assert tuple(pre.size) == crop and tuple(pre.test_cfg.size) == crop
    backbone = model.backbone
    structure = CITYSCAPES_MODEL if dataset == 'cityscapes' else COCO_MODEL
    resnet_type, in_channels, pixel_structure, trans_in_channels, aux_sampling = structure
    if match['backbone'] == 'r50':
        # l.3-16: ResNet-50, stride in the 3x3 conv, nothing frozen (FREEZE_AT 0), SyncBN with
        # TF's eps 1e-3 / momentum 0.99 (custom_bn_build_resnet_backbone); ../R-50.pkl (l.6)
        assert (backbone.type, backbone.depth, backbone.style) == (resnet_type, 50, 'pytorch')
        assert tuple(model.decode_head.in_channels) == in_channels
        assert backbone.norm_cfg == dict(type='SyncBN', eps=1e-3, momentum=0.01,
                                         requires_grad=True)
        assert backbone.norm_eval is False and backbone.get('frozen_stages', -1) == -1
        assert backbone.init_cfg.checkpoint == 'pretrained/kmax_r50_in1k_mmdense.pth'
    else:
        # 1 - drop_path_keep_prob of google-research/deeplab2
        # configs/coco/kmax_deeplab/kmax_meta_convnext_{tiny,small,base,large}_os32.textproto:28
        # (0.7/0.6/0.5/0.4); config.py MODEL.CONVNEXT.DROP_PATH_RATE 0.6 for ConvNeXt-L
        assert backbone.type == 'TimmConvNeXt' and backbone.deeplab_padding is True
        assert backbone.drop_path_rate == {'convnext-t': 0.3, 'convnext-s': 0.4,
                                           'convnext-b': 0.5, 'convnext-l': 0.6}[match['backbone']]
    head = model.decode_head
    assert head.num_classes == classes
    # l.37-42 pixel decoder; config.py PIXEL_DEC.DROP_PATH_PROB 0.0
    pixel = head.pixel_decoder
    assert (pixel.get('in_index'), pixel.dec_layers, pixel.dec_channels, pixel.layer_types) == \
        pixel_structure
    assert pixel.drop_path_rate == 0.0
    # l.44-49 transformer decoder
    trans = head.transformer_decoder
    assert (trans.dec_layers, trans.num_queries, trans.in_channels) == \
        ((2, 2, 2), queries, trans_in_channels)
    assert trans.drop_path_rate == drop_path
    # l.28-35 loss weights; config.py l.44-50 aux decoder, temperatures, sample sizes, void
    # masking. AUX_SEMANTIC_WEIGHT 1.0 everywhere: the auxiliary head is always built.
    assert head.get('aux_semantic_head', True) is True
    assert head.get('aux_semantic_decoder', True) is aux[0]
    assert head.criterion == dict(
        type='KMaXCriterion', class_weight=3.0, dice_weight=3.0, mask_weight=0.3,
        insdis_weight=1.0, aux_semantic_weight=1.0, no_object_weight=1e-5,
        share_final_matching=True, pixel_insdis_temperature=aux[1], pixel_insdis_sample_k=4096,
        aux_semantic_temperature=aux_sampling[0], aux_semantic_sample_k=aux_sampling[1],
        masking_void_pixel=True)
    # l.51-60 panoptic inference
    test_cfg = model.test_cfg
    assert (test_cfg.class_threshold_thing, test_cfg.class_threshold_stuff,
            test_cfg.reorder_mask_weight, test_cfg.overlap_threshold) == inference
    assert (test_cfg.pixel_confidence_threshold, test_cfg.reorder_class_weight) == (0.4, 1.0)

    wrapper = cfg.optim_wrapper
    # l.65-77: AdamW (train_net.py passes only the lr: torch's betas/eps), weight decay 0.05,
    # backbone lr x0.1, no clipping, AMP (detectron2's dynamic GradScaler)
    assert wrapper.optimizer == dict(type='AdamW', lr=lr, betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=0.05)
    assert wrapper.paramwise_cfg.custom_keys.backbone == dict(lr_mult=0.1)
    assert (wrapper.type, wrapper.loss_scale, wrapper.clip_grad) == \
        ('AmpOptimWrapper', 'dynamic', None)
    # TF2WarmupPolyLR: WARMUP_ITERS 5000 (l.70), detectron2 WARMUP_FACTOR 0.001 / linear,
    # add_deeplab_config POLY_LR_POWER 0.9 / CONSTANT_ENDING 0 (tests/test_kmax_configs.py
    # steps it)
    assert cfg.param_scheduler == [
        dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=False, begin=0,
             end=5001),
        dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=iters + 1)]
    # MAX_ITER; TEST.EVAL_PERIOD 5000 (l.87)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=5000)
    # IMS_PER_BATCH (l.66) = GPUs x images per GPU of the file name; the lr is for it
    gpus, batch = int(match['gpus']), int(match['batch'])
    assert cfg.train_dataloader.batch_size == batch and gpus * batch == total_batch
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=total_batch)
    # no EMA (the reliability hooks of default_runtime.py are not part of the recipe)
    assert not any('EMA' in hook['type'] for hook in cfg.get('custom_hooks', []))

    # panoptic_kmaxdeeplab_dataset_mapper.py build_transform_gen: ResizeScale(MIN/MAX_SCALE)
    # of IMAGE_SIZE, ColorAugSSDTransform, RandomCrop(IMAGE_SIZE), RandomFlip(0.5); the
    # copy-paste image with scale_ratio 0.5
    copy_paste = cfg.train_dataloader.dataset.pipeline[0]
    assert copy_paste.type == 'PanopticCopyPaste' and tuple(copy_paste.crop_size) == crop
    for stage, ratio in ((copy_paste.main_pipeline, 1.0), (copy_paste.paste_pipeline, 0.5)):
        assert [t.type for t in stage] == ['PanopticLargeScaleJitter', 'RandomFlip',
                                           'PhotoMetricDistortion']
        assert tuple(stage[0].crop_size) == crop and stage[0].backend == 'pillow'
        assert tuple(stage[0].ratio_range) == (scales[0] * ratio, scales[1] * ratio)
        assert stage[1].prob == 0.5
        # ColorAugSSDTransform: brightness 32, contrast/saturation 0.5-1.5, hue 18, the
        # defaults of PhotoMetricDistortion
        assert set(stage[2]) == {'type'}
    # MIN_SIZE_TEST / MAX_SIZE_TEST (l.84-85): ResizeShortestEdge, PIL bilinear
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert resize.type == 'Resize' and resize.keep_ratio is True and resize.backend == 'pillow'
    assert tuple(resize.scale) == crop[::-1]
    assert cfg.val_evaluator == dict(type='PanopticQualityMetric') or \
        cfg.val_evaluator[0] == dict(type='PanopticQualityMetric')


def _scaled_lrs(name, world_size, batch_size):
    """The param-group lrs after mmengine's Runner.scale_lr with the config's auto_scale_lr."""
    cfg = _cfg(name)
    auto_scale_lr = dict(cfg.auto_scale_lr, enable=True)
    lr = cfg.optim_wrapper.optimizer.lr
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    # a backbone group (lr x0.1) and a head group, as the config's paramwise rules build them
    optimizer = torch.optim.AdamW([dict(params=[params[0]], lr=lr * 0.1),
                                   dict(params=[params[1]], lr=lr)], lr=lr)
    runner = SimpleNamespace(
        _train_dataloader=dict(batch_size=batch_size), world_size=world_size,
        param_schedulers=None, logger=MMLogger.get_instance('test_recipe_kmax'))
    Runner.scale_lr(runner, OptimWrapper(optimizer), auto_scale_lr)
    return [g['lr'] for g in optimizer.param_groups], lr


@pytest.mark.parametrize('name', _configs())
def test_auto_scale_lr_keeps_the_official_lr_on_the_named_layout(name):
    match = NAME.fullmatch(name)
    gpus, batch = int(match['gpus']), int(match['batch'])
    lrs, lr = _scaled_lrs(name, gpus, batch)
    assert lrs == pytest.approx([lr * 0.1, lr])


def test_auto_scale_lr_follows_the_total_batch():
    # 8xb8 config run on 4 GPUs: half the images per iteration, half the lr (linear rule)
    lrs, lr = _scaled_lrs('kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py', 4, 8)
    assert lrs == pytest.approx([lr * 0.05, lr * 0.5])
    # 32xb2 config run on 16 GPUs x 4 images: the official total batch, the official lr
    lrs, lr = _scaled_lrs('kmax_r50_32xb2-150k_coco-panoptic-1281x1281.py', 16, 4)
    assert lrs == pytest.approx([lr * 0.1, lr])


def _train_tool():
    spec = importlib.util.spec_from_file_location('mmdense_train_tool',
                                                  osp.join(REPO, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_tool_auto_scale_lr_flag(monkeypatch):
    import mmdense.utils.cli as cli
    tool = _train_tool()
    monkeypatch.setattr(cli, 'check_data_roots', lambda cfg, names: None)  # no data here
    config = osp.join(KMAX, 'kmax_r50_32xb2-150k_coco-panoptic-1281x1281.py')
    monkeypatch.setattr(sys, 'argv', ['train.py', config, '--auto-scale-lr'])
    cfg = tool.build_cfg(tool.parse_args())
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=64)
    monkeypatch.setattr(sys, 'argv', ['train.py', config])
    assert tool.build_cfg(tool.parse_args()).auto_scale_lr.enable is False
    # a config without base_batch_size: a clear error instead of mmengine's assertion
    monkeypatch.setattr(sys, 'argv', ['train.py', config, '--auto-scale-lr', '--cfg-options',
                                      'auto_scale_lr.enable=False'])
    cfg = tool.build_cfg(tool.parse_args())
    assert cfg.auto_scale_lr.enable is True
    bare = osp.join(REPO, 'configs', 'hrformer',
                    'ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py')
    if 'base_batch_size' not in Config.fromfile(bare).get('auto_scale_lr', {}):
        monkeypatch.setattr(sys, 'argv', ['train.py', bare, '--auto-scale-lr'])
        with pytest.raises(cli.UserInputError, match='auto_scale_lr.base_batch_size'):
            tool.build_cfg(tool.parse_args())


@pytest.mark.parametrize('name, hw', [
    ('kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py', (480, 640)),
    ('kmax_r50_8xb8-100k_ade20k-panoptic-1281x1281.py', (512, 683)),
    ('kmax_r50_8xb4-60k_cityscapes-panoptic-1025x2049.py', (1024, 2048)),
])
def test_test_resize_is_detectron2_resize_shortest_edge(name, hw):
    """The test Resize gives detectron2's ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST) of
    the official configs: the same size and PIL's bilinear pixels (ResizeTransform)."""
    import numpy as np
    from mmcv.transforms import Resize
    from PIL import Image
    cfg = _cfg(name)
    resize = dict(cfg.test_dataloader.dataset.pipeline[1])
    resize.pop('type')
    short, long = min(cfg.model.data_preprocessor.size), max(cfg.model.data_preprocessor.size)
    h, w = hw
    img = (np.random.RandomState(0).rand(h, w, 3) * 255).astype(np.uint8)
    out = Resize(**resize)(dict(img=img))['img']
    # detectron2 ResizeShortestEdge.get_output_shape
    scale = short / min(h, w)
    if max(h, w) * scale > long:
        scale = long / max(h, w)
    new_h, new_w = int(h * scale + 0.5), int(w * scale + 0.5)
    assert out.shape == (new_h, new_w, 3)
    expected = np.asarray(Image.fromarray(img).resize((new_w, new_h), Image.BILINEAR))
    assert np.array_equal(out, expected)


@pytest.mark.parametrize('ratio', [0.125, 1.0])  # 8x smaller, 2x larger
def test_large_scale_jitter_resizes_as_detectron2(ratio):
    """backend='pillow' gives detectron2's ResizeScale pixels: PIL bilinear for the image
    (antialiased when shrinking) and PIL nearest on the panoptic PNG's RGB encoding."""
    import numpy as np
    from PIL import Image

    from mmdense.registry import TRANSFORMS
    from mmdense.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    rng = np.random.RandomState(0)
    h, w = 96, 128
    img = (rng.rand(h, w, 3) * 255).astype(np.uint8)
    ids = rng.randint(1, 2**24, size=(h // 8, w // 8)).repeat(8, 0).repeat(8, 1).astype(np.int32)
    ids[:, :5] = rng.randint(1, 2**24, size=(h, 5))  # thin segments: sampling positions matter
    crop = (256, 256)  # never cropped: the whole resized image is compared
    lsj = TRANSFORMS.build(dict(type='PanopticLargeScaleJitter', crop_size=crop,
                                ratio_range=(ratio, ratio), backend='pillow'))
    out = lsj.transform(dict(img=img.copy(), gt_panoptic_seg=ids.copy(),
                             seg_fields=['gt_panoptic_seg']))
    # detectron2 ResizeScale: fit into ratio * crop, np.round of the scaled size
    scale = min(crop[0] * ratio / h, crop[1] * ratio / w)
    new_h, new_w = np.round(np.multiply((h, w), scale)).astype(int)
    expected = np.asarray(Image.fromarray(img).resize((new_w, new_h), Image.BILINEAR))
    assert np.array_equal(out['img'], expected)
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)  # id2rgb
    rgb = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.NEAREST)).astype(np.int64)
    assert np.array_equal(out['gt_panoptic_seg'], rgb[..., 0] + 256 * rgb[..., 1] +
                          65536 * rgb[..., 2])
    # OpenCV's resize is another image (what the configs used before)
    cv2_out = TRANSFORMS.build(dict(type='PanopticLargeScaleJitter', crop_size=crop,
                                    ratio_range=(ratio, ratio))).transform(
        dict(img=img.copy(), gt_panoptic_seg=ids.copy(), seg_fields=['gt_panoptic_seg']))
    assert not np.array_equal(cv2_out['img'], expected)
    with pytest.raises(ValueError, match='backend'):
        TRANSFORMS.build(dict(type='PanopticLargeScaleJitter', crop_size=crop, backend='pil'))
