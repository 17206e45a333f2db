"""kMaX-DeepLab configs: settings, optimiser parameter groups and the learning-rate schedule."""
import glob
import math

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmdense.models.heads.kmax.layers import LayerNorm2d
from mmdense.registry import MODELS, PARAM_SCHEDULERS
from mmdense.utils import register_all_modules
from mmdense.utils.cli import load_config

register_all_modules(init_default_scope=False)
COCO_R50 = 'configs/kmax/kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py'
COCO_CONVNEXT_T = 'configs/kmax/kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py'
# ConvNeXt-S/B/L share the depths (3, 3, 27, 3)
COCO_CONVNEXT_S = 'configs/kmax/kmax_convnext-s_8xb8-150k_coco-panoptic-1281x1281.py'


def test_all_configs_load_with_the_official_settings():
    expected = {
        'kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 8, 80),
        'kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 8, 80),
        'kmax_convnext-s_8xb8-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 8, 80),
        'kmax_convnext-b_8xb8-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 8, 80),
        'kmax_convnext-l_8xb8-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 8, 80),
        'kmax_r50_8xb4-60k_cityscapes-panoptic-1025x2049.py': (19, 256, 60000, 3e-4, 4, 8),
        'kmax_r50_8xb8-100k_ade20k-panoptic-1281x1281.py': (150, 128, 100000, 5e-4, 8, 100),
        # the official GPU layouts (32 GPUs), same total batch
        'kmax_r50_32xb2-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 2, 80),
        'kmax_convnext-t_32xb2-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 2, 80),
        'kmax_convnext-s_32xb2-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 2, 80),
        'kmax_convnext-b_32xb2-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 2, 80),
        'kmax_convnext-l_32xb2-150k_coco-panoptic-1281x1281.py': (133, 128, 150000, 5e-4, 2, 80),
        'kmax_r50_32xb2-100k_ade20k-panoptic-1281x1281.py': (150, 128, 100000, 5e-4, 2, 100),
    }
    files = sorted(glob.glob('configs/kmax/*.py'))
    assert {f.split('/')[-1] for f in files} == set(expected)
    for f in files:
        cfg = load_config(f, None)
        classes, queries, iters, lr, batch, things = expected[f.split('/')[-1]]
        head = cfg.model.decode_head
        assert head.num_classes == classes
        assert head.transformer_decoder.num_queries == queries
        assert cfg.train_cfg.max_iters == iters and cfg.param_scheduler[1].end == iters + 1
        assert cfg.optim_wrapper.optimizer.lr == lr
        assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
        assert cfg.train_dataloader.batch_size == batch
        assert len(cfg.model.test_cfg.thing_class_ids) == things
        assert head.criterion.class_weight == 3.0 and head.criterion.dice_weight == 3.0
        assert head.criterion.mask_weight == 0.3 and head.criterion.insdis_weight == 1.0
        copy_paste = cfg.train_dataloader.dataset.pipeline[0]
        assert copy_paste.type == 'PanopticCopyPaste'
        assert cfg.model.data_preprocessor.size == copy_paste.crop_size
        main = copy_paste.main_pipeline[0].ratio_range
        paste = copy_paste.paste_pipeline[0].ratio_range
        assert tuple(paste) == (main[0] / 2, main[1] / 2)


def _readme_row(config_name):
    with open('configs/kmax/README.md') as f:
        rows = [line for line in f if line.startswith('|') and f'({config_name})' in line]
    assert len(rows) == 1, config_name
    return rows[0]


def test_every_config_builds_with_the_readme_param_counts():
    """All configs build (on the meta device: no memory, no pretrained weights needed), the
    decoder takes the backbone's channels and the README's parameter counts are these."""
    head_params = {}
    for f in sorted(glob.glob('configs/kmax/*.py')):
        cfg = load_config(f, None)
        with DefaultScope.overwrite_default_scope('mmdense'), torch.device('meta'):
            model = MODELS.build(cfg.model)
        backbone = model.backbone
        if hasattr(backbone, 'res_layers'):
            channels = [getattr(backbone, n)[-1].conv3.out_channels for n in backbone.res_layers]
            if cfg.model.backbone.type == 'ResNetWithStem':  # Cityscapes: stem output first
                channels = [backbone.stem_channels] + channels
        else:
            channels = list(backbone.out_channels)
        assert channels == list(cfg.model.decode_head.in_channels), f
        decoder = model.decode_head.pixel_decoder
        assert [n.weight.shape[0] for n in decoder.in_norms] == \
            [channels[i] for i in decoder.in_index], f
        total = sum(p.numel() for p in model.parameters())
        aux = sum(p.numel() for p in model.decode_head.aux_semantic_head.parameters())
        head_params[f.split('/')[-1]] = sum(p.numel() for p in model.decode_head.parameters())
        row = _readme_row(f.split('/')[-1])
        assert f'| {(total - aux) / 1e6:.1f}M / {total / 1e6:.1f}M |' in row, (f, total, aux)
    # the official decoder of kmax_r50.yaml (reference count, aux semantic head included)
    assert head_params['kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py'] == 48_928_830


def _official_group(module_name, module, param_name, base_lr=5e-4, base_wd=0.05):
    """(lr, weight decay) of one parameter under the official train_net.py rules."""
    lr = base_lr * (0.1 if 'backbone' in module_name else 1.0)
    wd = base_wd
    if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
                           LayerNorm2d)):
        wd = 0.0
    if 'rpe' in module_name or 'cluster_centers' in module_name:
        wd = 0.0
    if 'bias' in param_name or 'gamma' in param_name:
        wd = 0.0
    return lr, wd


@pytest.mark.parametrize('config', [COCO_R50, COCO_CONVNEXT_T, COCO_CONVNEXT_S])
def test_optimizer_groups_follow_the_official_rules(config):
    cfg = load_config(config, None)
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdense'):
        model = MODELS.build(cfg.model)
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale')
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    group_of = {}
    for group in optim.optimizer.param_groups:
        for p in group['params']:
            group_of[id(p)] = (group['lr'], group['weight_decay'])
    checked = 0
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            expected = _official_group(module_name, module, param_name)
            got = group_of[id(param)]
            assert got == pytest.approx(expected), f'{module_name}.{param_name}: {got}'
            checked += 1
    assert checked == len(list(model.parameters()))


def test_schedule_matches_tf2_warmup_poly():
    cfg = load_config(COCO_R50, None)
    warmup, total = cfg.param_scheduler[0].end - 1, cfg.param_scheduler[1].end - 1
    assert (warmup, total) == (5000, 150000)
    # the same schedulers on a 100x shorter run, to keep the test fast
    scale = 100
    warmup, total = warmup // scale, total // scale
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=5e-4)
    schedulers = []
    for s in cfg.param_scheduler:
        s = dict(s, optimizer=optimizer, end=(s['end'] - 1) // scale + 1)
        schedulers.append(PARAM_SCHEDULERS.build(s))
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for s in schedulers:
            s.step()

    def official(t):  # TF2WarmupPolyLR with detectron2's linear warm-up (factor 0.001)
        if t < warmup:
            alpha = t / warmup
            return 5e-4 * (0.001 * (1 - alpha) + alpha)
        return 5e-4 * math.pow(1 - t / total, 0.9)

    for t in (warmup, warmup + 1, total // 2, total - 1):
        assert lrs[t] == pytest.approx(official(t), rel=1e-6)
    for t in (0, warmup // 2, warmup - 1):  # in the warm-up the poly factor (>= 0.97) applies too
        assert lrs[t] == pytest.approx(official(t) * (1 - t / total)**0.9, rel=1e-6)
