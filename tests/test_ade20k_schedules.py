"""Optimiser and learning-rate schedule of the MPViT and DAT ADE20K configs against the papers'
official (mmcv 1.x) recipes."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, DefaultScope
from torch import nn

from mmdense.registry import MODELS
from mmdense.utils import adapt_cfg_amp_for_cpu, register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MPVIT = 'configs/mpvit/upernet_mpvit-{}_8xb2-160k_ade20k-512x512.py'
UPN_DAT = 'configs/dat/upernet_dat-{}_8xb2-160k_ade20k-512x512.py'
FPN_DAT = 'configs/dat/fpn_dat-t_8xb4-40k_ade20k-512x512.py'

register_all_modules(init_default_scope=False)


def _cfg(path):
    return Config.fromfile(osp.join(REPO, path))


def mmcv1_poly(t, base_lr, max_iters, power, warmup_iters=0, warmup_ratio=1.0):
    """mmcv 1.x ``PolyLrUpdaterHook`` (min_lr 0) with its ``warmup='linear'``, at iteration t.

    The warm-up scales the poly learning rate of the same iteration (``get_warmup_lr`` is
    applied to ``regular_lr``), so both factors apply during the warm-up.
    """
    lr = base_lr * (1 - t / max_iters)**power
    if t < warmup_iters:
        lr *= 1 - (1 - t / warmup_iters) * (1 - warmup_ratio)
    return lr


def _step_lrs(cfg, at):
    """Step the config's schedulers on a dummy optimizer; the lr used at iterations ``at``."""
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
                  for s in cfg.param_scheduler]
    lrs = {}
    for t in range(max(at) + 1):
        if t in at:
            lrs[t] = optimizer.param_groups[0]['lr']
        # as ParamSchedulerHook.after_train_iter: every scheduler steps once per iteration
        for s in schedulers:
            s.step()
    return lrs


ITERS = (0, 1, 750, 1499, 1500, 1501, 80000)


@pytest.mark.parametrize('path', [MPVIT.format('s'), UPN_DAT.format('t')])
def test_upernet_schedule_is_official_poly_with_multiplied_warmup(path):
    cfg = _cfg(path)
    assert cfg.train_cfg.max_iters == 160000
    lrs = _step_lrs(cfg, ITERS)
    for t in ITERS:
        expected = mmcv1_poly(t, 6e-5, 160000, 1.0, warmup_iters=1500, warmup_ratio=1e-6)
        assert lrs[t] == pytest.approx(expected, rel=1e-6), t
    # hand-computed values of the official recipe
    assert lrs[0] == pytest.approx(6e-11, rel=1e-6)
    assert lrs[750] == pytest.approx(6e-5 * (1e-6 + (1 - 1e-6) / 2) * (1 - 750 / 160000),
                                     rel=1e-6)
    assert lrs[1500] == pytest.approx(6e-5 * (1 - 1500 / 160000), rel=1e-6)
    assert lrs[80000] == pytest.approx(3e-5, rel=1e-6)


def test_upernet_schedule_ends_at_zero_after_the_last_iteration():
    # A 100x shorter copy of the MPViT-S schedulers (same begin/end convention), run to the end.
    cfg = _cfg(MPVIT.format('s'))
    for s in cfg.param_scheduler:
        s.end = (s.end - 1) // 100 + 1
    lrs = _step_lrs(cfg, (0, 14, 15, 1599, 1600))
    assert lrs[14] == pytest.approx(mmcv1_poly(14, 6e-5, 1600, 1.0, 15, 1e-6), rel=1e-6)
    assert lrs[15] == pytest.approx(6e-5 * (1 - 15 / 1600), rel=1e-6)
    assert lrs[1599] == pytest.approx(6e-5 / 1600, rel=1e-6)  # the last of 1600 iterations
    assert lrs[1600] == pytest.approx(0.0, abs=1e-15)


def test_fpn_schedule_is_official_poly():
    # DAT-Segmentation fpn_tiny_80k_dp04_lr2.py: max_iters=80000 // 2 at 8 GPUs x 4 images
    cfg = _cfg(FPN_DAT)
    assert cfg.train_cfg.max_iters == 40000
    at = (0, 1, 750, 20000, 39999)
    lrs = _step_lrs(cfg, at)
    for t in at:
        assert lrs[t] == pytest.approx(mmcv1_poly(t, 2e-4, 40000, 0.9), rel=1e-6), t
    assert lrs[20000] == pytest.approx(2e-4 * 0.5**0.9, rel=1e-6)


@pytest.mark.parametrize('path, drop_path, lr, weight_decay, batch, iters', [
    (MPVIT.format('s'), 0.2, 6e-5, 0.01, 2, 160000),
    (MPVIT.format('b'), 0.4, 6e-5, 0.01, 2, 160000),
    (UPN_DAT.format('t'), 0.3, 6e-5, 0.01, 2, 160000),
    (UPN_DAT.format('s'), 0.5, 6e-5, 0.01, 2, 160000),
    (UPN_DAT.format('b'), 0.7, 6e-5, 0.01, 2, 160000),
    (FPN_DAT, 0.4, 2e-4, 1e-4, 4, 40000),
])
def test_recipe(path, drop_path, lr, weight_decay, batch, iters):
    cfg = _cfg(path)
    assert cfg.model.backbone.drop_path_rate == drop_path
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=lr, betas=(0.9, 0.999),
                                               weight_decay=weight_decay)
    assert (cfg.train_dataloader.batch_size, cfg.train_cfg.max_iters) == (batch, iters)
    # the variants inherit the schedule of the family's base config
    base = _cfg(FPN_DAT if 'fpn' in path else MPVIT.format('s') if 'mpvit' in path
                else UPN_DAT.format('t'))
    assert cfg.param_scheduler == base.param_scheduler


def _weight_decays(cfg):
    """Build the config's model and optimiser wrapper; {param name: weight decay}."""
    cfg.model.backbone.init_cfg = None
    adapt_cfg_amp_for_cpu(cfg)  # DAT-T/S train with AMP; mmengine's wrapper needs a GPU
    with DefaultScope.overwrite_default_scope('mmdense'):
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    decays = {names[id(p)]: g['weight_decay']
              for g in wrapper.optimizer.param_groups for p in g['params']}
    assert len(decays) == len(names)
    return model, decays


@pytest.mark.parametrize('path, weight_decay', [(UPN_DAT.format('t'), 0.01), (FPN_DAT, 1e-4)])
def test_dat_no_weight_decay_on_position_tables_and_norms(path, weight_decay):
    model, decays = _weight_decays(_cfg(path))
    no_decay = set()
    for module_name, module in model.backbone.named_modules():
        if isinstance(module, nn.LayerNorm):
            no_decay.update(f'backbone.{module_name}.{n}' for n, _ in module.named_parameters())
    no_decay.update(n for n in decays
                    if n.endswith(('relative_position_bias_table', 'rpe_table')))
    # every LayerNorm of the backbone: stem, blocks, offset networks, downsampling, outputs
    assert {'backbone.patch_embed.norm.weight', 'backbone.stages.2.blocks.1.attn.offset_norm.bias',
            'backbone.downsamples.0.norm.weight', 'backbone.norm3.bias',
            'backbone.stages.0.blocks.0.attn.relative_position_bias_table',
            'backbone.stages.3.blocks.1.attn.rpe_table'} <= no_decay
    # DAT-T, 12 blocks: 2 norms each, 1 table each, 4 deformable offset norms, the stem norm,
    # 3 downsampling norms and 4 output norms (weight and bias each)
    assert len(no_decay) == 12 * 2 * 2 + 12 + 4 * 2 + 2 + 3 * 2 + 4 * 2
    for name, decay in decays.items():
        assert decay == (0.0 if name in no_decay else weight_decay), name
    # the heads' BatchNorms (ConvModule `bn`) keep their decay, as in the official configs
    assert decays['decode_head.conv_seg.weight'] == weight_decay
    assert any(n.startswith('decode_head') and '.bn.' in n and d == weight_decay
               for n, d in decays.items())


def test_mpvit_weight_decay_on_every_parameter():
    cfg = _cfg(MPVIT.format('t'))
    assert 'paramwise_cfg' not in cfg.optim_wrapper
    _, decays = _weight_decays(cfg)
    assert set(decays.values()) == {0.01}
