"""The DeMT configs against the official training recipe, field by field.

The official values come from yangyangxu0/DeMT (commit 575d11fe); each check names the file and
line it is read from (see the "Recipe vs official" table of configs/demt/README.md). The merged
configs are read with ``Config.fromfile``; what the official code does in code rather than
configuration (depth rescaling, centred padding of the normalised image, cropping back, the
Swin checkpoint layout) is checked on fixtures.
"""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.runner.checkpoint import get_external_models

from mmdense.registry import DATASETS, MODELS
from mmdense.structures import MultiTaskDataSample
from mmdense.utils import register_all_modules
from tests.helpers.multitask_fixtures import write_nyud_fixture, write_pascal_fixture
from tests.helpers.reference import reference_layout
from tests.helpers.seg_fixture import REPO

register_all_modules(init_default_scope=True)

NYUD = ['nyud_hrnet', 'nyud_swin-t', 'nyud_swin-s', 'nyud_swin-b']
PASCAL = ['pascal_hrnet', 'pascal_swin-t', 'pascal_swin-s', 'pascal_swin-b']
OFFICIAL_CONFIGS = NYUD + PASCAL
# No official recipe: these borrow the HRNet NYUD recipe with their own backbone settings.
BORROWED = ['nyud_mpvit-s', 'nyud_dat-t', 'nyud_hrformer-s']

_SWIN_ROOT = 'https://download.openmmlab.com/mmsegmentation/v0.5/swin/'
# src/model/backbones/swin.py:12-14 (model_urls of swin_b, swin_s, swin_t)
SWIN_URLS = {
    'swin-b': _SWIN_ROOT + (
        'upernet_swin_base_patch4_window7_512x512_160k_ade20k_pretrain_224x224_22K/'
        'upernet_swin_base_patch4_window7_512x512_160k_ade20k_pretrain_224x224_22K_'
        '20210526_211650-762e2178.pth'),
    'swin-s': _SWIN_ROOT + (
        'upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K/'
        'upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K_'
        '20210526_192015-ee2fff1c.pth'),
    'swin-t': _SWIN_ROOT + (
        'upernet_swin_tiny_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K/'
        'upernet_swin_tiny_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K_'
        '20210531_112542-e380ad3e.pth'),
}
# src/model/backbones/hrnet.py:11
HRNET_URL = 'https://download.openmmlab.com/pretrain/third_party/hrnetv2_w18_small-b5a04e21.pth'
# src/model/backbones/swin.py:955-958, 976-979, 997-1000 (widths, depths, heads)
SWIN_ARCH = {
    'swin-t': (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    'swin-s': (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    'swin-b': (128, (2, 2, 18, 2), (4, 8, 16, 32)),
}


def _cfg(name):
    return Config.fromfile(osp.join(REPO, 'configs', 'demt', f'{name}.py'))


def _pipeline(cfg):
    return {t.type: t for t in cfg.train_dataloader.dataset.pipeline}


# --------------------------------------------------------------------- configuration fields
@pytest.mark.parametrize('name', OFFICIAL_CONFIGS + BORROWED)
def test_optimizer_and_precision(name):
    cfg = _cfg(name)
    wrapper = cfg.optim_wrapper
    # src/model/pl_model.py:110-111: plain SGD, momentum 0.9, fp32 (no `precision` in any
    # yaml, PyTorch-Lightning 1.1.8 defaults to 32), no gradient clipping (Trainer default)
    assert wrapper.type == 'OptimWrapper' and wrapper.get('clip_grad') is None
    optim = wrapper.optimizer
    assert (optim.type, optim.momentum, optim.get('nesterov', False)) == ('SGD', 0.9, False)
    # config/*/swin/*_demt*.yaml:12-13 (lr 0.001, weight decay 0.0005); HRNet-18 has no
    # official DeMT yaml and keeps 1e-3 (README, "HRNet-18 learning rate")
    assert (optim.lr, optim.weight_decay) == (1e-3, 5e-4)
    # src/model/pl_model.py:118-128: weight decay on every parameter, head lr multiplier 1.0
    assert wrapper.get('paramwise_cfg') is None


@pytest.mark.parametrize('name', OFFICIAL_CONFIGS + BORROWED)
def test_schedule_and_batch(name):
    cfg = _cfg(name)
    # src/model/pl_model.py:113-114: PolynomialLR(gamma 0.9, min_lr 0) stepped every
    # iteration over `iterations`; no warm-up
    [poly] = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min, poly.begin, poly.end, poly.by_epoch) == (
        'PolyLR', 0.9, 0, 0, 40000, False)
    # yaml:11 iterations 40000; src/main.py:37 max_steps = iterations
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 40000
    # yaml:4 batch_size 8 in total over the 8 GPUs of the README's command (--trainer.gpus 8):
    # 1 image per GPU (src/data/pl_data.py, batch_size // num_duplicates)
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.auto_scale_lr.base_batch_size == 8
    # src/main.py:13 and :48: seed_everything(0)
    assert cfg.randomness.seed == 0


@pytest.mark.parametrize('name', OFFICIAL_CONFIGS)
def test_pretrained_weights_and_backbone(name):
    backbone = _cfg(name).model.backbone
    arch = name.split('_')[1]
    if arch == 'hrnet':
        # src/model/backbones/hrnet.py:11: mmseg's ImageNet HRNetV2-W18-Small
        assert get_external_models()[backbone.init_cfg.checkpoint[len('open-mmlab://'):]] == \
            HRNET_URL
        assert backbone.type == 'HRNet' and backbone.norm_eval is False
        assert backbone.norm_cfg.type == 'SyncBN'  # yaml:16 sync_batchnorm: True
        return
    # src/model/backbones/swin.py:12-14: mmseg's ADE20K UperNet Swin checkpoints
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=SWIN_URLS[arch])
    embed_dims, depths, heads = SWIN_ARCH[arch]
    assert (backbone.embed_dims, tuple(backbone.depths), tuple(backbone.num_heads)) == (
        embed_dims, depths, heads)
    # src/model/backbones/swin.py:765-784 (SwinTransformer defaults the factories keep):
    # window 7, mlp ratio 4, qkv bias, patch norm, drop path 0.1, every stage an output
    assert (backbone.window_size, backbone.mlp_ratio, backbone.qkv_bias, backbone.patch_norm,
            backbone.drop_path_rate, tuple(backbone.out_indices)) == (
        7, 4, True, True, 0.1, (0, 1, 2, 3))
    for field in ('drop_rate', 'attn_drop_rate', 'use_abs_pos_embed'):
        assert not backbone.get(field, False), field


@pytest.mark.parametrize('name', OFFICIAL_CONFIGS + BORROWED)
def test_train_pipeline(name):
    cfg = _cfg(name)
    nyud = name.startswith('nyud')
    crop = (425, 560) if nyud else (512, 512)  # nyud.py:24, pascal_context.py:57
    pipeline = _pipeline(cfg)
    types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    # src/data/pl_data.py:31-40: scale, crop, flip, photometric, normalise, pad
    expected = ['LoadImageFromFile', 'LoadMultiTaskAnnotations', 'MultiTaskRandomResize',
                'MultiTaskRandomCrop', 'MultiTaskRandomFlip', 'PhotoMetricDistortion',
                'PackMultiTaskInputs']
    if not nyud:  # AddIgnoreRegions on human parts (transforms.py:284-288)
        expected.insert(4, 'IgnoreEmptyHumanParts')
    assert types == expected
    assert pipeline['LoadImageFromFile'].imdecode_backend == 'pillow'  # PIL loading
    resize = pipeline['MultiTaskRandomResize']
    # pl_data.py:32 RandomScaling([0.5, 2.0]) of the image's own size; transforms.py:20-28
    # bilinear image, nearest labels; transforms.py:59-61 depth divided by the scale
    assert tuple(resize.ratio_range) == (0.5, 2.0) and resize.get('scale') is None
    assert resize.get('interpolation', 'bilinear') == 'bilinear'
    assert resize.get('continuous_interpolation', 'nearest') == 'nearest'
    assert resize.get('rescale_depth', False) is nyud
    # pl_data.py:33 RandomCrop(image_dims, cat_max_ratio=0.75)
    crop_t = pipeline['MultiTaskRandomCrop']
    assert tuple(crop_t.crop_size) == crop and crop_t.cat_max_ratio == 0.75
    assert pipeline['MultiTaskRandomFlip'].prob == 0.5  # pl_data.py:34
    # pl_data.py:35 PhotoMetricDistortion() with its defaults (transforms.py:317-321)
    photo = pipeline['PhotoMetricDistortion']
    assert (photo.get('brightness_delta', 32), tuple(photo.get('contrast_range', (0.5, 1.5))),
            tuple(photo.get('saturation_range', (0.5, 1.5))), photo.get('hue_delta', 18)) == (
        32, (0.5, 1.5), (0.5, 1.5), 18)
    # pl_data.py:36-37 Normalize then PadImage(image_dims): the data preprocessor normalises
    # with the ImageNet mean/std on RGB and pads with 0, centred, to the crop (no divisor)
    pre = cfg.model.data_preprocessor
    assert pre.mean == [123.675, 116.28, 103.53] and pre.std == [58.395, 57.12, 57.375]
    assert pre.bgr_to_rgb is True
    assert (tuple(pre.size), pre.pad_mode, pre.pad_val, pre.get('size_divisor')) == (
        crop, 'center', 0, None)


@pytest.mark.parametrize('name', OFFICIAL_CONFIGS + BORROWED)
def test_test_protocol(name):
    cfg = _cfg(name)
    # pl_data.py:41-46: the validation image is only normalised and padded (no resize, no
    # flip); src/main.py:42 tests the final model on the val split
    types = [t.type for t in cfg.test_dataloader.dataset.pipeline]
    assert types == ['LoadImageFromFile', 'LoadMultiTaskAnnotations', 'PackMultiTaskInputs']
    assert cfg.test_dataloader.dataset.split == 'val'
    assert cfg.model.test_cfg.mode == 'whole'
    # boundary tolerance: nyud.py:22 (0.011) and pascal_context.py:55 (0.0075)
    nyud = name.startswith('nyud')
    dataset = DATASETS.get(cfg.test_dataloader.dataset.type)
    assert dataset.METAINFO['edge_tolerance'] == (0.011 if nyud else 0.0075)
    # one source: the metric reads it from dataset_meta, the config does not repeat it
    assert 'edge_max_dist' not in cfg.test_evaluator


@pytest.mark.parametrize('name', OFFICIAL_CONFIGS + BORROWED)
def test_losses(name):
    cfg = _cfg(name)
    nyud = name.startswith('nyud')
    losses = cfg.model.losses
    # src/model/builder.py:79-130 (types and task weights), criterion.py:83-181
    expected = dict(
        semseg=('DenseCrossEntropyLoss', 1.0),
        human_parts=('DenseCrossEntropyLoss', 2.0),
        sal=('DenseCrossEntropyLoss', 5.0),
        normals=('MaskedL1Loss', 10.0),
        depth=('MaskedL1Loss', 1.0),
        edge=('BalancedBinaryCrossEntropyLoss', 50.0))
    tasks = ['semseg', 'depth', 'normals', 'edge'] if nyud else \
        ['semseg', 'human_parts', 'sal', 'normals', 'edge']
    assert list(cfg.model.decode_head.tasks) == tasks
    for task in tasks:
        assert (losses[task].type, losses[task].get('loss_weight', 1.0)) == expected[task], task
    assert losses.normals.normalize is True  # builder.py:113 L1Loss(normalize=True)
    if not nyud:
        assert losses.sal.balanced is True  # builder.py:105 CrossEntropyLoss(balanced=True)
    # edge_pos_weight: nyud.py:21 (0.8), pascal_context.py:54 (0.95)
    assert losses.edge.pos_weight == (0.8 if nyud else 0.95)
    # yaml:16 sync_batchnorm: every BatchNorm of the head is synchronised
    assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'


# ------------------------------------------------------------------ behaviour on fixtures
def _upernet_checkpoint(path, backbone_layout):
    """A file in the on-disk format of mmseg's ADE20K UperNet Swin checkpoints: ``meta`` and a
    ``state_dict`` of ``backbone.*``, ``decode_head.*`` and ``auxiliary_head.*`` tensors."""
    g = torch.Generator().manual_seed(0)
    state_dict = {}
    for key, shape in backbone_layout:
        if key.endswith('relative_position_index'):
            state_dict['backbone.' + key] = torch.randint(0, 169, shape, generator=g)
        else:
            state_dict['backbone.' + key] = torch.randn(shape, generator=g)
    state_dict['decode_head.conv_seg.weight'] = torch.randn(150, 512, 1, 1, generator=g)
    state_dict['decode_head.conv_seg.bias'] = torch.randn(150, generator=g)
    state_dict['auxiliary_head.conv_seg.weight'] = torch.randn(150, 256, 1, 1, generator=g)
    torch.save(dict(meta=dict(mmseg_version='0.14.0', iter=160000), state_dict=state_dict), path)
    return state_dict


@pytest.mark.parametrize('name', ['nyud_swin-t', 'pascal_swin-t'])
def test_swin_loads_every_backbone_key_of_the_upernet_checkpoint(name, tmp_path):
    """Every tensor of the official Swin-T layout (output norms included) reaches the
    backbone through the config's init_cfg; the decode/auxiliary heads are left out."""
    layout = reference_layout('demt_backbone_swint')
    cfg = _cfg(name)
    ckpt = str(tmp_path / 'upernet_swin_tiny.pth')
    source = _upernet_checkpoint(ckpt, layout)
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    own = model.backbone.state_dict()
    assert sorted(own) == sorted(k for k, _ in layout)  # the same layout, key for key
    assert not torch.equal(own['norm3.weight'], source['backbone.norm3.weight'])
    model.init_weights()
    own = model.backbone.state_dict()
    for key, _ in layout:
        assert torch.equal(own[key], source['backbone.' + key]), key
    assert all(torch.equal(own[f'norm{i}.bias'], source[f'backbone.norm{i}.bias'])
               for i in range(4))


def test_nyud_depth_is_halved_at_a_2x_scale(tmp_path):
    """One NYUD training sample scaled by exactly 2 has half the depth of the raw file
    (the official RandomScaling, src/data/transforms.py:59-61)."""
    root = write_nyud_fixture(tmp_path / 'NYUDv2', num_train=1, num_val=1, size=(24, 32))
    cfg = _cfg('nyud_hrnet')
    pipeline = cfg.train_dataloader.dataset.pipeline
    for t in pipeline:
        if t.type == 'MultiTaskRandomResize':
            t.ratio_range = (2.0, 2.0)  # a fixed scale, the config's other settings kept
        if t.type == 'MultiTaskRandomFlip':
            t.prob = 0.0
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(root)))
    sample = dataset[0]['data_samples']
    raw = np.load(osp.join(str(root), 'depth', '000000.npy'))
    # nearest neighbour at exactly 2x repeats every pixel twice along each axis; the 48x64
    # image is smaller than the 425x560 crop, so it is kept whole (padding comes later)
    expected = np.repeat(np.repeat(raw, 2, axis=0), 2, axis=1) / 2
    depth = sample.gt_depth.data.numpy()[0]
    assert depth.shape == (48, 64)
    np.testing.assert_allclose(depth, expected, rtol=1e-6)
    assert (depth[raw.repeat(2, 0).repeat(2, 1) == 0] == 0).all()  # invalid stays invalid


@pytest.mark.parametrize('name, image_hw, padding', [
    # (left, right, top, bottom): half the margin on the top/left, rounded down, as
    # PadImage's delta // 2 (transforms.py:109-112)
    ('pascal_hrnet', (375, 500), (6, 6, 68, 69)),
    ('nyud_hrnet', (300, 401), (79, 80, 62, 63)),
    ('nyud_hrnet', (425, 560), (0, 0, 0, 0)),
])
def test_normalised_image_is_padded_with_zero_centred(name, image_hw, padding):
    cfg = _cfg(name)
    pre = MODELS.build(cfg.model.data_preprocessor)
    h, w = image_hw
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
    out = pre(dict(inputs=[img], data_samples=[MultiTaskDataSample()]), False)
    x, sample = out['inputs'][0], out['data_samples'][0]
    crop = (425, 560) if name.startswith('nyud') else (512, 512)
    assert tuple(x.shape[-2:]) == crop
    assert sample.padding_size == padding
    left, right, top, bottom = padding
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    expected = (img.flip(0).float() - mean) / std  # BGR file order -> RGB, normalised
    torch.testing.assert_close(x[:, top:top + h, left:left + w], expected)
    mask = torch.ones(crop, dtype=torch.bool)
    mask[top:top + h, left:left + w] = False
    assert (x[:, mask] == 0).all()  # the mean colour


def test_test_step_pads_centred_and_crops_back_as_the_official_evaluation(tmp_path):
    """tools/test.py's path (test pipeline, data preprocessor, predict) on a PASCAL image
    smaller than the crop gives, at the image's own size, the centre of the prediction the
    official evaluation makes on the padded frame (src/model/utils_model.py:41-51)."""
    root = write_pascal_fixture(tmp_path / 'PASCALContext', num_train=1, num_val=1,
                                size=(40, 50))
    cfg = _cfg('pascal_hrnet')
    cfg.model.backbone.init_cfg = None
    crop = (64, 64)  # the config's 512x512 frame, shrunk to keep the test fast
    cfg.model.data_preprocessor.size = crop
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset, data_root=str(root)))
    data = pseudo_collate([dataset[0]])
    with torch.no_grad():
        [pred] = model.test_step(data)
        # the official frame: normalised RGB image placed at (delta // 2, delta // 2) of a
        # zero canvas, whole-image forward, logits upsampled to the canvas, centre cut out
        img = mmcv.imread(osp.join(str(root), 'JPEGImages', pred.img_path.split('/')[-1]),
                          backend='pillow')[..., ::-1].astype(np.float32)
        img = (img - np.array([123.675, 116.28, 103.53])) / np.array([58.395, 57.12, 57.375])
        canvas = torch.zeros(1, 3, *crop)
        top, left = (crop[0] - 40) // 2, (crop[1] - 50) // 2
        canvas[0, :, top:top + 40, left:left + 50] = torch.from_numpy(img).permute(2, 0, 1)
        logits = model._forward(canvas)
    for task in ('semseg', 'sal', 'normals'):
        full = torch.nn.functional.interpolate(logits[task], size=crop, mode='bilinear',
                                               align_corners=False)
        centre = full[0, :, top:top + 40, left:left + 50]
        expected = model._postprocess_task(task, centre, None)
        got = pred.get(f'pred_{task}').data
        if task == 'semseg':
            assert torch.equal(got, expected)
        else:
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_converted_official_checkpoint_is_evaluated_in_the_official_frame(tmp_path):
    """An official (Lightning) DeMT checkpoint, converted with demt2mmdense.py and evaluated
    with tools/test.py and the PASCAL config, predicts exactly what the official evaluation
    predicts: the model run on the normalised image padded with 0, centred, to 512x512, the
    prediction cut back out of the centre (src/data/pl_data.py:41-46,
    src/model/utils_model.py:41-51)."""
    import pickle

    from tests.helpers.run_tool import run_tool
    from tests.test_demt_converter import HRNET18S, expected_name, official_backbone_layout
    from tests.test_demt_head import HRNET18, PASCAL, official_head_layout

    h, w = 300, 400
    root = write_pascal_fixture(tmp_path / 'PASCALContext', num_train=3, num_val=1,
                                size=(h, w))
    cfg = _cfg('pascal_hrnet')
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    ours = model.state_dict()
    # The official file: every tensor under its official name (the converter's inverse,
    # written independently in tests/test_demt_converter.py), in a Lightning checkpoint.
    official = {}
    for prefix, layout in (('backbone.', official_backbone_layout(HRNET18S)),
                           ('head.', official_head_layout(HRNET18, *PASCAL))):
        for key, shape in layout:
            if key.endswith('.3.fn.0.offset'):  # an unused buffer of the official head
                official[prefix + key] = torch.zeros(shape)
            else:
                official[prefix + key] = ours[expected_name(prefix + key, PASCAL[0])].clone()
    src, dst = str(tmp_path / 'official.ckpt'), str(tmp_path / 'converted.pth')
    torch.save(dict(epoch=12, global_step=40000, state_dict=official), src)
    run_tool('tools/model_converters/demt2mmdense.py', src, dst)
    out = str(tmp_path / 'preds.pkl')
    options = [f'test_dataloader.dataset.data_root={root}', 'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False', 'model.backbone.init_cfg=None',
               'test_evaluator.edge_thresholds=3', 'test_evaluator.edge_num_workers=0']
    run_tool('tools/test.py', osp.join(REPO, 'configs', 'demt', 'pascal_hrnet.py'), dst,
             '--work-dir', str(tmp_path / 'work'), '--out', out, '--cfg-options', *options)
    with open(out, 'rb') as f:
        [result] = pickle.load(f)

    # The official frame, computed here from the image file.
    img = mmcv.imread(result['img_path'], backend='pillow')[..., ::-1].astype(np.float32)
    img = (img - np.array([123.675, 116.28, 103.53])) / np.array([58.395, 57.12, 57.375])
    top, left = (512 - h) // 2, (512 - w) // 2
    canvas = torch.zeros(1, 3, 512, 512)
    canvas[0, :, top:top + h, left:left + w] = torch.from_numpy(img).permute(2, 0, 1)
    with torch.no_grad():
        logits = model._forward(canvas)
    for task in PASCAL[0]:
        full = torch.nn.functional.interpolate(logits[task], size=(512, 512), mode='bilinear',
                                               align_corners=False)
        expected = model._postprocess_task(task, full[0, :, top:top + h, left:left + w], None)
        got = result[f'pred_{task}']
        got = got['data'] if isinstance(got, dict) else got.data
        assert got.shape == expected.shape == (expected.shape[0], h, w), task
        if task in ('semseg', 'human_parts'):
            assert (got == expected).float().mean() > 0.999, task
        else:
            torch.testing.assert_close(got.float(), expected, atol=1e-4, rtol=1e-4)
