"""The HRFormer recipes against the official ones (HRNet/HRFormer: pose/ is MMPose 0.x, seg/ is
openseg), field by field on the merged configs, plus behavioural checks of what the official code
does in code: BGR input, the augmentations and the 0.x box sampling. The official values and their
file:line are tabulated in configs/hrformer/README.md ("Recipe vs official")."""
from __future__ import annotations

import math
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.helpers.seg_fixture import REPO

CFG = osp.join(REPO, 'configs/hrformer')
SEG = {
    # name: (dataset, size, iterations, images per GPU, official total batch)
    'ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py': ('cityscapes', 's', 80000, 2, 8),
    'ocrnet_hrformer-b_4xb2-80k_cityscapes-512x1024.py': ('cityscapes', 'b', 80000, 2, 8),
    'ocrnet_hrformer-s_4xb4-60k_pascal-context-59-520x520.py': ('pascal', 's', 60000, 4, 16),
    'ocrnet_hrformer-b_4xb4-60k_pascal-context-59-520x520.py': ('pascal', 'b', 60000, 4, 16),
    'ocrnet_hrformer-s_4xb2-150k_ade20k-520x520.py': ('ade20k', 's', 150000, 2, 8),
    'ocrnet_hrformer-b_4xb2-150k_ade20k-520x520.py': ('ade20k', 'b', 150000, 2, 8),
}
POSE = {
    # name: (size, input (w, h), sigma, drop path)
    'td-hm_hrformer-small_8xb32-210e_coco-256x192.py': ('s', (192, 256), 2, 0.1),
    'td-hm_hrformer-small_8xb32-210e_coco-384x288.py': ('s', (288, 384), 3, 0.1),
    'td-hm_hrformer-base_8xb32-210e_coco-256x192.py': ('b', (192, 256), 2, 0.2),
    'td-hm_hrformer-base_8xb32-210e_coco-384x288.py': ('b', (288, 384), 3, 0.3),
}
PRETRAINED = {
    's': 'https://download.openmmlab.com/mmpose/pretrain_models/'
         'hrformer_small-09516375_20220226.pth',
    'b': 'https://download.openmmlab.com/mmpose/pretrain_models/'
         'hrformer_base-32815020_20220226.pth',
}
# seg/configs/cityscapes/H_48_D_4.json "ce_weight"
CITYSCAPES_CE_WEIGHT = [
    0.8373, 0.9180, 0.8660, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023, 0.9539,
    0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507
]
# seg/configs/*/H_48_D_4.json "normalize" (x255), applied to BGR images in this order
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CFG, name))


def types(pipeline: list) -> list[str]:
    return [t['type'] for t in pipeline]


@pytest.mark.parametrize('name', sorted(SEG))
def test_seg_recipe(name):
    dataset, size, iters, per_gpu, total = SEG[name]
    cfg = load(name)
    # seg/scripts/*/hrt/run_hrt_*_ocr_v2_ohem.sh: OPTIM_METHOD adamw, BASE_LR 0.0001,
    # GROUP_METHOD decay; H_48_D_4.json "adamw": betas (0.9, 0.999), eps 1e-8, wd 0.01
    ow = cfg.optim_wrapper
    # segmentor/trainer.py: torch.cuda.amp autocast + GradScaler (dynamic scale)
    assert ow.type == 'AmpOptimWrapper' and ow.loss_scale == 'dynamic'
    assert ow.optimizer == dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=0.01)
    assert ow.get('clip_grad') is None
    assert ow.paramwise_cfg.norm_decay_mult == 0 and ow.paramwise_cfg.bias_decay_mult == 0
    assert ow.paramwise_cfg.custom_keys == {'relative_position_bias_table': {'decay_mult': 0.0}}
    # LR_POLICY warm_lambda_poly with "warm": warm_iters 1500, warm_ratio 1e-6; poly 0.9 to 0
    warm, poly = cfg.param_scheduler
    assert (warm.type, warm.start_factor, warm.begin, warm.end) == ('LinearLR', 1e-6, 0, 1500)
    assert (poly.type, poly.power, poly.eta_min, poly.begin, poly.end) == (
        'PolyLR', 0.9, 0.0, 1500, iters)
    # MAX_ITERS of the script; --train_batch_size (Cityscapes 8, PASCAL-Context 16; ADE20K: 8 in
    # seg/README.md) over 4 GPUs here
    assert cfg.train_cfg.max_iters == iters
    assert cfg.train_dataloader.batch_size * 4 == total and per_gpu == total // 4
    # hrt_config.py DROP_PATH_RATE 0.2; run_hrt_base_ocr_v2_ohem.sh (Cityscapes) exports 0.4
    dpr = 0.4 if (dataset, size) == ('cityscapes', 'b') else 0.2
    assert cfg.model.backbone.extra.drop_path_rate == dpr
    # --pretrained ./hrt_pretrained_models/hrt_{small,base}.pth (MMPose's conversion of it)
    assert cfg.model.backbone.init_cfg.checkpoint == PRETRAINED[size]
    # "bn_type": "torchsyncbn"
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert all(h.norm_cfg.type == 'SyncBN' for h in cfg.model.decode_head)
    # "input_mode": "BGR" with the RGB mean/std in that order
    pre = cfg.model.data_preprocessor
    assert pre.bgr_to_rgb is False and pre.mean == MEAN and pre.std == STD
    # hrt.py HRT_*_OCR_V2: aux head (weight 0.4) and OCR head (1.0), whole-image test
    aux, ocr = cfg.model.decode_head
    assert cfg.model.test_cfg.mode == 'whole'
    assert aux.loss_decode.type == 'WeightedMeanCrossEntropyLoss'
    assert aux.loss_decode.loss_weight == 0.4 and ocr.loss_decode.loss_weight == 1.0
    assert 'sampler' not in aux and 'sampler' not in ocr
    if dataset == 'pascal':
        # run_hrt_*_ocr_v2_ohem.sh of PASCAL-Context: LOSS_TYPE fs_auxce_loss, no ce_weight
        assert ocr.loss_decode.type == 'WeightedMeanCrossEntropyLoss'
        assert aux.loss_decode.get('class_weight') is None
    else:
        # LOSS_TYPE fs_auxohemce_loss, "ohem_thresh" 0.9, "ohem_minkeep" 100000
        assert ocr.loss_decode.type == 'OhemCrossEntropyLoss'
        assert (ocr.loss_decode.thresh, ocr.loss_decode.min_kept) == (0.9, 100000)
        weight = CITYSCAPES_CE_WEIGHT if dataset == 'cityscapes' else None
        assert ocr.loss_decode.get('class_weight') == weight
        assert aux.loss_decode.get('class_weight') == weight
    # train_trans of H_48_D_4.json
    pipe = cfg.train_dataloader.dataset.pipeline
    resize = pipe[types(pipe).index('RandomScaleAspectResize')]
    assert resize.scale_range == (0.5, 2.0) and resize.aspect_range == (0.9, 1.1)
    assert resize.interpolation == 'bicubic'
    crop = pipe[types(pipe).index('RandomCrop')]
    assert crop.get('cat_max_ratio', 1.0) == 1.0
    assert pipe[types(pipe).index('RandomBrightnessShift')].max_shift == 10
    assert pipe[types(pipe).index('RandomFlip')].prob == 0.5
    pad = pipe[types(pipe).index('RandomPositionPad')]
    assert pad.pad_val == MEAN and tuple(pad.size) == tuple(crop.crop_size)
    assert 'PhotoMetricDistortion' not in types(pipe) and 'RandomResize' not in types(pipe)
    test_pipe = cfg.test_dataloader.dataset.pipeline
    if dataset == 'cityscapes':
        # "crop_size": [1024, 512]; order random_resize, random_crop, random_hflip,
        # random_brightness; val on the whole 2048x1024 image
        assert tuple(crop.crop_size) == (512, 1024)
        assert types(pipe)[2:6] == ['RandomScaleAspectResize', 'RandomCrop', 'RandomFlip',
                                    'RandomBrightnessShift']
        # "test_interval": 1000; the best val mIoU checkpoint is the official one
        assert cfg.train_cfg.val_interval == 1000
        assert cfg.default_hooks.checkpoint.save_best == 'mIoU'
    else:
        # "resize": {"min_side_length": 520} (bicubic) first, crop 520x520, test at short side
        # 520; order random_hflip, resize, random_resize, random_crop, random_brightness
        assert tuple(crop.crop_size) == (520, 520)
        assert types(pipe)[2:7] == ['RandomFlip', 'Resize', 'RandomScaleAspectResize',
                                    'RandomCrop', 'RandomBrightnessShift']
        for p in (pipe, test_pipe):
            r = p[types(p).index('Resize')]
            assert (r.scale, r.keep_ratio, r.interpolation) == ((4096, 520), True, 'bicubic')
        # --test_interval 10000
        assert cfg.train_cfg.val_interval == 10000
    # H_48_D_4_TEST_MS3x.json "scale_search": [0.75, 1, 1.25] with flips
    scales, flips = cfg.tta_pipeline[1].transforms[:2]
    assert [f.prob for f in flips] == [0.0, 1.0]
    if dataset == 'cityscapes':
        assert [r.scale_factor for r in scales] == [0.75, 1.0, 1.25]
    else:
        assert [r.scale for r in scales] == [(4096, 390), (4096, 520), (4096, 650)]
    # ADE20K val collate "fit_stride": 8 pads to a multiple of 8
    assert (pre.get('test_cfg') or {}).get('size_divisor') == (8 if dataset == 'ade20k'
                                                               else None)


@pytest.mark.parametrize('name', sorted(POSE))
def test_pose_recipe(name):
    size, input_size, sigma, dpr = POSE[name]
    cfg = load(name)
    # pose/configs/top_down/hrt/coco/hrt_*_coco_*.py: optimizer, optimizer_config, lr_config,
    # total_epochs, fp16
    ow = cfg.optim_wrapper
    assert ow.type == 'AmpOptimWrapper' and ow.loss_scale == 'dynamic'
    assert ow.optimizer == dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.01)
    assert ow.paramwise_cfg == dict(
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.)})
    assert ow.get('clip_grad') is None
    warm, step = cfg.param_scheduler
    assert (warm.type, warm.start_factor, warm.end, warm.by_epoch) == ('LinearLR', 0.001, 500,
                                                                       False)
    assert (step.type, step.milestones, step.gamma) == ('MultiStepLR', [170, 200], 0.1)
    assert cfg.train_cfg.max_epochs == 210 and cfg.train_cfg.val_interval == 10
    # samples_per_gpu=32 on 8 GPUs
    assert cfg.train_dataloader.batch_size == 32 and cfg.auto_scale_lr.base_batch_size == 256
    # evaluation key_indicator='AP'
    assert cfg.default_hooks.checkpoint.save_best == 'coco/AP'
    assert cfg.default_hooks.checkpoint.interval == 5  # checkpoint_config interval=5
    # model: SyncBN, drop path, pretrained, 1x1 head with JointsMSELoss(use_target_weight)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.model.backbone.extra.drop_path_rate == dpr
    assert cfg.model.backbone.init_cfg.checkpoint == PRETRAINED[size]
    assert cfg.model.head.loss == dict(type='KeypointMSELoss', use_target_weight=True)
    assert cfg.model.head.deconv_out_channels is None
    # data_cfg image_size/heatmap_size, TopDownGenerateTarget sigma
    codec = cfg.model.head.decoder
    assert codec.type == 'MSRAHeatmap' and codec.sigma == sigma
    assert tuple(codec.input_size) == input_size
    assert tuple(codec.heatmap_size) == (input_size[0] // 4, input_size[1] // 4)
    # test_cfg flip_test, shift_heatmap, post_process='default' (no dark/UDP)
    assert cfg.model.test_cfg == dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True)
    assert codec.get('unbiased', False) is False
    # train_pipeline: flip 0.5, half body (8 joints, 0.3), scale 0.5 / rotation 40, no shift
    pipe = cfg.train_dataloader.dataset.pipeline
    assert types(pipe) == ['LoadImage', 'GetBBoxCenterScale', 'RandomFlip', 'RandomHalfBody',
                           'RandomBBoxScaleRotation', 'TopdownAffine', 'GenerateTarget',
                           'PackPoseInputs']
    assert pipe[4]._scope_ == 'mmdense'
    half = pipe[3]
    assert (half.min_total_keypoints, half.min_upper_keypoints, half.min_lower_keypoints,
            half.padding, half.prob) == (9, 3, 3, 1.5, 0.3)
    assert half.upper_prioritized_prob == pytest.approx(0.5 * (1 + math.erf(0.5 / 2**0.5)))
    sr = pipe[4]
    assert (sr.scale_factor, sr.rotate_factor, sr.rotate_prob) == (0.5, 40, 0.6)
    assert pipe[5].get('use_udp', False) is False
    # data_cfg: bbox_file of the 56.4 AP detector, det_bbox_thr 0, oks nms 0.9, vis_thr 0.2
    val = cfg.val_dataloader.dataset
    assert val.bbox_file.endswith('COCO_val2017_detections_AP_H_56_person.json')
    assert val.get('filter_cfg') is None
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.val_evaluator.get('nms_thr', 0.9) == 0.9
    assert cfg.val_evaluator.get('keypoint_score_thr', 0.2) == 0.2
    assert cfg.val_evaluator.get('score_mode', 'bbox_keypoint') == 'bbox_keypoint'


def test_bgr_input_reaches_the_model_as_the_official_code_feeds_it(tmp_path):
    """A pixel with R=200, G=100, B=50 is normalised channel by channel in BGR order."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS, TRANSFORMS

    import mmdense.datasets  # noqa: F401
    init_default_scope('mmdense')
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[...] = (200, 100, 50)
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, rgb[..., ::-1])  # cv2 writes BGR arrays: the file holds RGB 200/100/50
    cfg = load('ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py')
    results = TRANSFORMS.build(dict(type='LoadImageFromFile'))(dict(img_path=path))
    results = TRANSFORMS.build(dict(type='PackSegInputs'))(results)
    pre = MODELS.build(cfg.model.data_preprocessor)
    out = pre(dict(inputs=[results['inputs']], data_samples=[results['data_samples']]))
    got = out['inputs'][0, :, 0, 0]
    # official: cv2.imread (BGR) -> (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    bgr = torch.tensor([50., 100., 200.])
    expected = (bgr / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor(
        [0.229, 0.224, 0.225])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(got, expected.flip(0), atol=0.1)


def test_random_scale_aspect_resize_matches_openseg():
    from mmdense.datasets.transforms import RandomScaleAspectResize

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (10, 20, 3), dtype=np.uint8)
    seg = rng.integers(0, 5, (10, 20), dtype=np.uint8)
    t = RandomScaleAspectResize(scale_range=(2.0, 2.0), aspect_range=(1.21, 1.21))
    out = t(dict(img=img.copy(), gt_seg_map=seg.copy(), seg_fields=['gt_seg_map']))
    # openseg RandomResize: w x sqrt(a) x s, h / sqrt(a) x s, truncated: 20*2.2, int(10*1.818)
    size = (44, 18)
    assert out['img'].shape == (18, 44, 3) and out['gt_seg_map'].shape == (18, 44)
    np.testing.assert_array_equal(out['img'], cv2.resize(img, size, interpolation=cv2.INTER_CUBIC))
    np.testing.assert_array_equal(out['gt_seg_map'],
                                  cv2.resize(seg, size, interpolation=cv2.INTER_NEAREST))
    # the sampled factors stay in the ranges and the aspect change is sqrt(a) both ways
    t = RandomScaleAspectResize()
    np.random.seed(0)
    for _ in range(50):
        h, w = t(dict(img=np.zeros((100, 200, 3), np.uint8)))['img'].shape[:2]
        s = (w / 200 * h / 100) ** 0.5
        a = (w / 200) / (h / 100)
        assert 0.49 <= s <= 2.01 and 0.88 <= a <= 1.12


def test_random_brightness_shift_is_one_integer_within_ten():
    from mmdense.datasets.transforms import RandomBrightnessShift

    img = np.full((2, 3, 3), 100, np.uint8)
    img[0, 0] = (250, 3, 100)
    t = RandomBrightnessShift(max_shift=10)
    np.random.seed(0)
    shifts = set()
    for _ in range(400):
        out = t(dict(img=img.copy()))['img'].astype(int)
        shift = out[1, 1, 0] - 100
        shifts.add(shift)
        expected = np.clip(img.astype(int) + shift, 0, 255)
        np.testing.assert_array_equal(out, expected)
    assert shifts == set(range(-10, 11))  # both ends included, nothing else


def test_random_position_pad_uses_mean_colour_and_ignore_label():
    from mmdense.datasets.transforms import RandomPositionPad

    img = np.full((3, 4, 3), 7, np.uint8)
    seg = np.zeros((3, 4), np.uint8)
    t = RandomPositionPad(size=(5, 8), pad_val=MEAN, seg_pad_val=255)
    np.random.seed(1)
    offsets = set()
    for _ in range(60):
        out = t(dict(img=img.copy(), gt_seg_map=seg.copy(), seg_fields=['gt_seg_map']))
        assert out['img'].shape == (5, 8, 3) and out['gt_seg_map'].shape == (5, 8)
        inside = out['gt_seg_map'] == 0
        assert inside.sum() == 12 and (out['gt_seg_map'][~inside] == 255).all()
        ys, xs = np.nonzero(inside)
        offsets.add((ys.min(), xs.min()))
        assert (out['img'][inside] == 7).all()
        np.testing.assert_allclose(out['img'][~inside], np.broadcast_to(MEAN, (28, 3)))
    # random placement over the whole margin, not bottom/right padding only
    assert {y for y, _ in offsets} == {0, 1, 2} and {x for _, x in offsets} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize('name', ['ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py',
                                  'ocrnet_hrformer-s_4xb4-60k_pascal-context-59-520x520.py',
                                  'ocrnet_hrformer-s_4xb2-150k_ade20k-520x520.py'])
def test_train_and_test_pipelines_run(name, tmp_path):
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    import mmdense.datasets  # noqa: F401
    init_default_scope('mmdense')
    img = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    seg = np.full((64, 128), 4, np.uint8)
    cv2.imwrite(str(tmp_path / 'img.png'), img)
    cv2.imwrite(str(tmp_path / 'seg.png'), seg)
    cfg = load(name)
    sample = dict(img_path=str(tmp_path / 'img.png'), seg_map_path=str(tmp_path / 'seg.png'),
                  reduce_zero_label=SEG[name][0] != 'cityscapes', seg_fields=[])
    np.random.seed(0)
    out = Compose(cfg.train_dataloader.dataset.pipeline)(dict(sample))
    crop = cfg.model.data_preprocessor.size
    assert tuple(out['inputs'].shape) == (3, *crop)
    label = out['data_samples'].gt_sem_seg.data
    value = 4 if SEG[name][0] == 'cityscapes' else 3  # reduce_zero_label: 4 -> 3
    assert set(label.unique().tolist()) <= {value, 255} and (label == value).any()
    if SEG[name][0] == 'cityscapes':
        # at most 256x128 after a 2x zoom: the rest of the 512x1024 canvas is padding
        assert (label == 255).sum() >= 512 * 1024 - 1.15 * 256 * 128
    out = Compose(cfg.test_dataloader.dataset.pipeline)(dict(sample))
    # Cityscapes is tested at 2048x1024 (a no-op on real images); the others at short side 520
    expected = (1024, 2048) if SEG[name][0] == 'cityscapes' else (520, 1040)
    assert tuple(out['inputs'].shape[1:]) == expected


def test_pose_box_sampling_is_mmpose_0x():
    from mmdense.datasets.transforms import RandomBBoxScaleRotation

    t = RandomBBoxScaleRotation(scale_factor=0.5, rotate_factor=40, rotate_prob=0.6)
    np.random.seed(0)
    offset, scale, rotate = t._get_transform_params(20000)
    assert not offset.any()  # no centre shift
    # clip(N(1, 0.5), 0.5, 1.5): P(s = 0.5) = P(N < -1) = 0.1587
    assert scale.min() == pytest.approx(0.5) and scale.max() == pytest.approx(1.5)
    assert (scale == np.float32(0.5)).mean() == pytest.approx(0.1587, abs=0.01)
    # rotation applied with probability 0.6, clip(N(0, 40), -80, 80): P(|r| = 80) = 0.6 * 0.0455
    assert (rotate == 0).mean() == pytest.approx(0.4, abs=0.015)
    assert np.abs(rotate).max() == pytest.approx(80)
    assert (np.abs(rotate) == 80).mean() == pytest.approx(0.6 * 0.0455, abs=0.005)
    assert rotate[rotate != 0].std() == pytest.approx(40 * 0.974, rel=0.03)


def test_seg_weight_decay_only_on_conv_and_linear_weights():
    """group_method='decay' (segmentor/trainer.py group_weight): decay on nn.Linear and conv
    weights only; biases, norms and the relative position tables get none."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmdense.models  # noqa: F401
    init_default_scope('mmdense')
    cfg = load('ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py')
    channels = [8, 16, 32, 64]
    bn = dict(type='BN', requires_grad=True)
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None
    model_cfg.backbone.norm_cfg = bn
    extra = model_cfg.backbone.extra
    extra.stage1.update(num_blocks=(1, ), num_channels=(16, ))
    extra.stage2.update(num_blocks=(1, 1), num_channels=tuple(channels[:2]), num_heads=[1, 2])
    extra.stage3.update(num_modules=1, num_blocks=(1, 1, 1), num_channels=tuple(channels[:3]),
                        num_heads=[1, 2, 2])
    extra.stage4.update(num_modules=1, num_blocks=(1, 1, 1, 1), num_channels=tuple(channels),
                        num_heads=[1, 2, 2, 4])
    for head in model_cfg.decode_head:
        head.update(in_channels=channels, channels=16, norm_cfg=bn)
    model_cfg.decode_head[1].ocr_channels = 8
    model = MODELS.build(model_cfg)
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.type = 'OptimWrapper'  # AmpOptimWrapper needs CUDA; the parameter groups are equal
    optim_cfg.pop('loss_scale')
    optimizer = build_optim_wrapper(model, optim_cfg).optimizer
    decay = {id(p): g['weight_decay'] for g in optimizer.param_groups for p in g['params']}
    expected = {}
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            is_weight = name == 'weight' and isinstance(
                module, (torch.nn.Linear, torch.nn.modules.conv._ConvNd))
            expected[id(p)] = 0.01 if is_weight else 0.0
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {k: v for k, v in decay.items() if k in trainable} == {
        k: v for k, v in expected.items() if k in trainable}
    assert sum(v == 0.01 for v in expected.values()) > 20


@pytest.mark.parametrize('name', ['ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py',
                                  'td-hm_hrformer-small_8xb32-210e_coco-256x192.py'])
def test_config_amp_runs_as_bf16_autocast_without_cuda(name, monkeypatch):
    """What tools/train.py does with the configs' AmpOptimWrapper on a machine without CUDA."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    import mmdense.engine  # noqa: F401
    from mmdense.utils import adapt_cfg_amp_for_cpu
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = load(name)
    assert adapt_cfg_amp_for_cpu(cfg)
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    model = torch.nn.Linear(4, 2)
    # built under the config's own default scope, as the runner does (mmpose for the pose ones)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(wrapper).__name__ == 'CPUAmpOptimWrapper'
    with wrapper.optim_context(model):
        assert model(torch.randn(3, 4)).dtype == torch.bfloat16
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)
    if cfg.default_scope == 'mmpose':
        # the heatmap head logs its accuracy through to_numpy, which has no bfloat16
        from mmpose.models.heads.heatmap_heads import heatmap_head
        assert heatmap_head.to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float32


def test_pose_scale_rotation_builds_from_the_mmpose_scope():
    from mmengine.registry import DefaultScope
    from mmpose.registry import TRANSFORMS

    cfg = load('td-hm_hrformer-small_8xb32-210e_coco-256x192.py')
    with DefaultScope.overwrite_default_scope('mmpose'):
        t = TRANSFORMS.build(cfg.train_dataloader.dataset.pipeline[4])
    assert type(t).__name__ == 'RandomBBoxScaleRotation'
    np.random.seed(3)
    results = dict(bbox_center=np.array([[50., 60.]], np.float32),
                   bbox_scale=np.array([[40., 80.]], np.float32))
    out = t(results)
    np.testing.assert_array_equal(out['bbox_center'], [[50., 60.]])  # never shifted
    ratio = out['bbox_scale'] / np.array([[40., 80.]])
    assert ratio[0, 0] == pytest.approx(ratio[0, 1]) and 0.5 <= ratio[0, 0] <= 1.5
    assert out['bbox_rotation'].shape == (1, )
