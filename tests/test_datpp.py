"""Tests of the DAT++ backbone (DATPlusPlus), its layers and the checkpoint converter."""
import json
import os.path as osp
from collections import OrderedDict

import pytest
import torch

from mmdense.models.backbones import DAT, DATPlusPlus
from mmdense.models.backbones.dat_checkpoint import convert_dat_state_dict
from mmdense.models.backbones.dat_pp_checkpoint import (
    convert_datpp_state_dict,
    is_datpp_state_dict,
)
from mmdense.models.backbones.dat_pp_layers import (
    DATPPDeformableAttention,
    datpp_query_grid,
    datpp_reference_points,
)
from mmdense.registry import MODELS
from mmdense.utils import register_all_modules
from tools.model_converters.dat2mmdense import convert

DATA = osp.join(osp.dirname(osp.abspath(__file__)), 'data')
ARCHS = ('tiny', 'small', 'base')

register_all_modules(init_default_scope=False)


def official_facts(arch):
    """Layout and parameter count of the official backbone (tests/data/datpp_<arch>.keys.json)."""
    with open(osp.join(DATA, f'datpp_{arch}.keys.json')) as f:
        return json.load(f)


def official_state_dict(arch, seed=0, classifier=False):
    """Random tensors in the official layout (keys and shapes of the facts file)."""
    g = torch.Generator().manual_seed(seed)
    state = OrderedDict(
        (k, torch.randn(shape, generator=g)) for k, shape in official_facts(arch)['state_dict'])
    if classifier:  # what the ImageNet checkpoints add (LeapLabTHU/DAT models/dat.py)
        dim = state['norms.3.norm.weight'].shape[0]
        state['cls_norm.norm.weight'] = torch.ones(dim)
        state['cls_norm.norm.bias'] = torch.zeros(dim)
        state['cls_head.weight'] = torch.zeros(1000, dim)
        state['cls_head.bias'] = torch.zeros(1000)
    return state


@pytest.mark.parametrize('arch', ARCHS)
def test_num_params_equal_official(arch):
    facts = official_facts(arch)
    model = DATPlusPlus(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == facts['num_params']
    assert len(model.state_dict()) == facts['num_state_dict_entries']  # no buffers either


@pytest.mark.parametrize('arch', ARCHS)
def test_converted_official_layout_loads_strictly(arch):
    official = official_state_dict(arch)
    converted = convert_datpp_state_dict(official)
    model = DATPlusPlus(arch=arch)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in converted.items()} == expected
    model.load_state_dict(converted, strict=True)
    # Values travel unchanged (1x1 convs flattened into linear weights).
    block = model.stages[2].blocks[3]
    assert torch.equal(block.attn.proj_q.weight,
                       official['stages.2.attns.3.proj_q.weight'].flatten(1))
    assert torch.equal(block.attn.proj.weight,
                       official['stages.2.attns.3.proj_out.weight'].flatten(1))
    assert torch.equal(block.ffn.fc1.weight,
                       official['stages.2.mlps.3.linear1.0.weight'][..., 0, 0])
    assert torch.equal(block.norm2.weight, official['stages.2.layer_norms.7.norm.weight'])
    assert torch.equal(block.lpu.weight, official['stages.2.local_perception_units.3.weight'])
    assert torch.equal(model.stages[1].blocks[2].attn.rpb, official['stages.1.attns.2.rpb'])
    assert torch.equal(model.patch_embed.norm2.bias, official['patch_proj.4.norm.bias'])
    assert torch.equal(model.norm3.weight, official['norms.3.norm.weight'])


def test_layout_detection_and_unknown_keys():
    assert is_datpp_state_dict(official_state_dict('tiny'))
    v1 = {k: torch.zeros(1) for k in ('patch_proj.0.weight', 'stages.0.attns.0.proj_qkv.weight')}
    assert not is_datpp_state_dict(v1)
    bad = official_state_dict('tiny')
    bad['stages.0.attns.0.something'] = torch.zeros(1)
    with pytest.raises(ValueError, match='stages.0.attns.0.something'):
        convert_datpp_state_dict(bad)


def test_converter_tool_imagenet_and_segmentor_layouts(tmp_path):
    official = official_state_dict('tiny', classifier=True)
    # ImageNet release: weights under 'model', DDP prefix, classifier dropped, norms.* absent.
    src = str(tmp_path / 'dat_pp_tiny_in1k_224.pth')
    imagenet = {('module.' + k): v for k, v in official.items() if not k.startswith('norms.')}
    torch.save({'model': imagenet, 'epoch': 300}, src)
    converted = convert(src, str(tmp_path / 'out' / 'datpp-t.pth'))
    saved = torch.load(str(tmp_path / 'out' / 'datpp-t.pth'), weights_only=True)
    assert set(saved['state_dict']) == set(converted)
    model = DATPlusPlus('tiny')
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert unexpected == [] and sorted(missing) == sorted(
        f'norm{i}.{p}' for i in range(4) for p in ('weight', 'bias'))

    # Segmentation release (mmseg 0.x): the whole segmentor under 'state_dict'.
    head = {'decode_head.conv_seg.weight': torch.randn(150, 512, 1, 1),
            'auxiliary_head.convs.0.bn.running_mean': torch.randn(256)}
    seg = {'backbone.' + k: v for k, v in official.items() if not k.startswith('cls_')}
    src = str(tmp_path / 'upn_tiny.pth')
    torch.save({'state_dict': {**seg, **head}, 'meta': {}}, src)
    converted = convert(src, str(tmp_path / 'upn_tiny_mmdense.pth'))
    for k, v in head.items():
        assert torch.equal(converted[k], v)
    backbone = {k[len('backbone.'):]: v for k, v in converted.items() if k.startswith('backbone.')}
    DATPlusPlus('tiny').load_state_dict(backbone, strict=True)


def test_converter_tool_still_converts_v1():
    v1 = DAT('tiny', out_norm=False).state_dict()
    assert not is_datpp_state_dict(v1)
    with pytest.raises(ValueError, match='DAT v1'):
        convert_dat_state_dict({'stages.0.local_perception_units.0.weight': torch.zeros(1)})


def test_seeded_build_gives_official_outputs():
    # Modules are created in the official order, so the seeded weights are the official ones;
    # the reference outputs come from the official module (natten replaced by a naive loop).
    with open(osp.join(DATA, 'datpp_tiny_seed0_outputs.json')) as f:
        ref = json.load(f)
    torch.manual_seed(0)
    model = DATPlusPlus('tiny').eval()
    x = torch.randn(*ref['input_shape'], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outs = model(x)
    for out, shape, stats, samples in zip(outs, ref['output_shapes'], ref['output_stats'],
                                          ref['samples']):
        assert list(out.shape) == shape
        got = out.flatten()[::out.numel() // 16][:16]
        torch.testing.assert_close(got, torch.tensor(samples), rtol=1e-4, atol=1e-4)
        assert out.abs().mean().item() == pytest.approx(stats[1], rel=1e-4)


@pytest.mark.parametrize('size', [(37, 53), (8, 8), (4, 12)])
def test_any_input_size(size):
    model = DATPlusPlus(arch=dict(embed_dims=(16, 32, 64, 128), depths=(2, 2, 2, 2),
                                  num_heads=(1, 2, 4, 8), num_groups=(1, 1, 2, 4),
                                  block_types=('ND', 'ND', 'ND', 'DD')))
    x = torch.randn(1, 3, *size, requires_grad=True)
    outs = model(x)
    for i, out in enumerate(outs):
        stride = 4 * 2**i
        expected = [-(-s // stride) for s in size]
        assert list(out.shape) == [1, 16 * 2**i, *expected]
        assert torch.isfinite(out).all()
    sum(o.sum() for o in outs).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_with_cp_and_drop_path():
    torch.manual_seed(0)
    arch = dict(embed_dims=(16, 32, 64, 128), depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8),
                num_groups=(1, 1, 2, 4), block_types=('N', 'D', 'ND', 'D'))
    model = DATPlusPlus(arch=arch, with_cp=True, drop_path_rate=0.3)
    assert model.stages[2].blocks[1].drop_path.drop_prob == pytest.approx(0.3 * 3 / 4)
    plain = DATPlusPlus(arch=arch)
    plain.load_state_dict(model.state_dict())
    model.eval(), plain.eval()
    x = torch.randn(2, 3, 40, 48)
    for a, b in zip(model(x), plain(x)):
        torch.testing.assert_close(a, b)
    model.train()
    x.requires_grad_()
    sum(o.sum() for o in model(x)).backward()
    assert model.stages[0].blocks[0].attn.rpb.grad is not None


def test_deformable_attention_grids_follow_datpp():
    ref = datpp_reference_points(3, 5, torch.float64, 'cpu')
    # ((i + 0.5) / (H - 1)) * 2 - 1: y of row 0 is 0.5 / 2 * 2 - 1, x of column 4 is 4.5/4*2-1
    assert ref[0, 0, 0].item() == pytest.approx(-0.5)
    assert ref[2, 4, 1].item() == pytest.approx(1.25)
    grid = datpp_query_grid(3, 5, torch.float64, 'cpu')
    assert grid[..., 0][:, 0].tolist() == [-1.0, 0.0, 1.0]
    assert grid[..., 1][0].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    # single-row maps (the official code divides by zero there) stay finite
    assert datpp_query_grid(1, 1, torch.float32, 'cpu').abs().sum() == 0


def test_deformable_attention_clamps_positions():
    torch.manual_seed(0)
    attn = DATPPDeformableAttention(8, 2, 1, (13, 13), 3, 1, offset_range_factor=-1)
    with torch.no_grad():
        attn.offset_proj.weight.fill_(10.)  # pushes every position far outside
    q = attn.proj_q(torch.ones(1, 4, 4, 8))
    pos = attn.sampling_positions(q)
    assert pos.shape == (1, 4, 4, 2) and pos.abs().max() <= 1
    strided = DATPPDeformableAttention(8, 2, 2, (13, 13), 9, 8)
    assert strided.offset_dwconv.stride == (8, 8) and strided.offset_dwconv.padding == (4, 4)
    assert strided(torch.randn(1, 16, 24, 8)).shape == (1, 16, 24, 8)
    # kernel == stride: no padding (official)
    assert DATPPDeformableAttention(8, 2, 1, (13, 13), 2, 2).offset_dwconv.padding == (0, 0)


def test_registry_and_arch_errors():
    model = MODELS.build(dict(type='DATPlusPlus', arch='tiny', out_indices=(1, 3)))
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm3')
    with pytest.raises(ValueError, match='unknown arch'):
        DATPlusPlus(arch='huge')
    with pytest.raises(ValueError, match='block_types'):
        DATPlusPlus(arch=dict(embed_dims=(8, ) * 4, depths=(1, ) * 4, num_heads=(1, ) * 4,
                              num_groups=(1, ) * 4, block_types=('L', 'D', 'D', 'D')))
    with pytest.raises(ValueError, match='out_indices'):
        DATPlusPlus(out_indices=(4, ))
    with pytest.raises(ValueError, match='expects images'):
        DATPlusPlus(arch='tiny')(torch.zeros(1, 1, 32, 32))


# The official recipes (LeapLabTHU/DAT-Segmentation configs/dat/*.py, see configs/dat/README.md):
# arch, drop path, lr, weight decay, AMP, gradient checkpointing, iterations, images per GPU.
CONFIG_RECIPES = {
    'upernet_datpp-t_8xb2-160k_ade20k-512x512.py': ('tiny', 0.3, 6e-5, 0.01, True, True, 160000, 2),
    'upernet_datpp-s_8xb2-160k_ade20k-512x512.py': ('small', 0.5, 6e-5, 0.01, True, True, 160000,
                                                    2),
    'upernet_datpp-b_8xb2-160k_ade20k-512x512.py': ('base', 0.7, 6e-5, 0.01, False, True, 160000,
                                                    2),
    'fpn_datpp-t_8xb4-40k_ade20k-512x512.py': ('tiny', 0.4, 2e-4, 1e-4, False, False, 40000, 4),
    'fpn_datpp-s_8xb4-40k_ade20k-512x512.py': ('small', 0.4, 2e-4, 1e-4, False, False, 40000, 4),
    'fpn_datpp-b_8xb4-40k_ade20k-512x512.py': ('base', 0.7, 2e-4, 1e-4, False, False, 40000, 4),
}


@pytest.mark.parametrize('name', list(CONFIG_RECIPES))
def test_configs_follow_official_recipes(name):
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    arch, dpr, lr, wd, amp, with_cp, iters, batch = CONFIG_RECIPES[name]
    cfg = Config.fromfile(osp.join(osp.dirname(DATA), '..', 'configs', 'dat', name))
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch, backbone.drop_path_rate, backbone.with_cp) == (
        'DATPlusPlus', arch, dpr, with_cp)
    assert backbone.init_cfg.checkpoint == f'pretrained/datpp-{arch[0]}_in1k-224_mmdense.pth'
    optim = cfg.optim_wrapper
    assert optim.type == ('AmpOptimWrapper' if amp else 'OptimWrapper')
    assert amp == (optim.get('loss_scale') == 'dynamic')
    assert (optim.optimizer.type, optim.optimizer.lr, optim.optimizer.weight_decay) == (
        'AdamW', lr, wd)
    assert set(optim.paramwise_cfg.custom_keys) == {'relative_position_bias_table', 'rpe_table',
                                                   'norm'}
    assert cfg.train_cfg.max_iters == iters and cfg.train_dataloader.batch_size == batch
    assert cfg.param_scheduler[-1].end == iters + 1
    assert cfg.default_hooks.checkpoint.interval == iters // 10 == cfg.train_cfg.val_interval
    # The model builds with the official backbone.
    with DefaultScope.overwrite_default_scope('mmdense'):
        model = MODELS.build(cfg.model)
        # Weight decay groups as the official custom_keys: none on the deformable bias tables
        # and the norms, but on the neighbourhood attention tables ('rpb').
        plain = {k: v for k, v in optim.items() if k != 'loss_scale'}
        wrapper = build_optim_wrapper(model, dict(plain, type='OptimWrapper'))
    decays = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups
              for p in g['params']}
    for pname, param in model.backbone.named_parameters():
        no_decay = 'rpe_table' in pname or 'norm' in pname
        assert decays[id(param)] == (0. if no_decay else wd), pname
    facts = official_facts(arch)
    assert sum(p.numel() for p in model.backbone.parameters()) == facts['num_params']
    channels = list(DATPlusPlus.arch_zoo[arch]['embed_dims'])
    if name.startswith('fpn'):
        assert [m.conv.in_channels for m in model.neck.lateral_convs] == channels
    else:  # UPerHead: laterals for stages 1-3, the pyramid pooling on stage 4
        assert [m.conv.in_channels for m in model.decode_head.lateral_convs] == channels[:3]
        assert model.decode_head.psp_modules[0][1].conv.in_channels == channels[3]
        assert model.auxiliary_head.convs[0].conv.in_channels == channels[2]


def test_demt_datpp_config():
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(osp.dirname(DATA), '..', 'configs', 'demt', 'nyud_datpp-t.py'))
    assert cfg.model.backbone.type == 'DATPlusPlus' and cfg.model.backbone.arch == 'tiny'
    assert cfg.model.decode_head.in_channels == [64, 128, 256, 512]
    assert 'out_norm' not in cfg.model.backbone  # the DAT v1 option is deleted with the dict


def test_flop_counts_of_attention_products():
    from mmengine.analysis import FlopAnalyzer

    from mmdense.models.backbones.dat_pp_neighborhood_attention import neighborhood_attention_flops
    from tools.analysis_tools.get_flops import sdpa_flop_jit

    # q k^T and attn v over 7x7 windows: 2 * 49 * C per query, maps padded to the kernel
    assert neighborhood_attention_flops(2, 128, 128, 64, 7) == 2 * 128 * 128 * 49 * 2 * 64
    assert neighborhood_attention_flops(1, 3, 5, 8, 7) == 7 * 7 * 49 * 2 * 8

    class Attention(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    q, k, v = torch.randn(2, 3, 10, 4), torch.randn(2, 3, 6, 4), torch.randn(2, 3, 6, 5)
    analyzer = FlopAnalyzer(Attention(), (q, k, v))
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    assert analyzer.total() == 2 * 3 * 10 * 6 * (4 + 5)
