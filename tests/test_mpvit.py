"""Tests of the MPViT backbone, its batched multi-path layers and the checkpoint converter."""
import importlib.util
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdense.models.backbones import MPViT
from mmdense.models.backbones.mpvit_checkpoint import convert_mpvit_state_dict
from mmdense.models.backbones.mpvit_layers import MultiPathLinear
from mmdense.registry import MODELS
from tests.helpers.reference import load_reference

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ARCHS = ['tiny', 'xsmall', 'small', 'base']

# Unique parameters of the official segmentation backbone (youngwanLEE/MPViT @ e2d86e6c,
# semantic_segmentation/backbone/mpvit.py). Adding the 1000-class head gives the docstring
# counts 5,843,736 / 10,573,448 / 22,892,400 / 74,845,976.
OFFICIAL_NUM_PARAMS = {
    'tiny': 5_626_736, 'xsmall': 10_316_448, 'small': 22_603_400, 'base': 74_364_976}
# Entries of the official state dict (shared position encodings are listed once per alias).
OFFICIAL_NUM_ENTRIES = {'tiny': 871}
OUT_CHANNELS = {
    'tiny': [96, 176, 216, 216], 'xsmall': [128, 192, 256, 256],
    'small': [128, 216, 288, 288], 'base': [224, 368, 480, 480]}
# Stage outputs of the official MPViT-T built after torch.manual_seed(0) (norm_cfg BN,
# init_weights(pretrained=None)), eval mode, input torch.randn(2, 3, 224, 224) drawn from
# torch.Generator().manual_seed(0): (mean, mean |x|) per stage, from mpvit_tiny.keys.json.
OFFICIAL_TINY_SEED0_STATS = [
    (0.031104805099834265, 0.11582878292514792),
    (0.08346393593791687, 0.29427320585782474),
    (1.0223143607306915, 1.2027538976896694),
    (0.07446215569817413, 0.22747774785495614),
]
WINDOW = {3: 2, 5: 3, 7: 3}


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def bn_keys(prefix, c):
    return [(prefix + n, (c, )) for n in ('weight', 'bias', 'running_mean', 'running_var')] + [
        (prefix + 'num_batches_tracked', ())]


def official_layout(arch):
    """[(key, shape)] of the official state dict, aliases of shared tensors included."""
    s = MPViT.arch_zoo[arch]
    dims, layout = s['embed_dims'], []
    for i, (cin, cout) in enumerate([(3, dims[0] // 2), (dims[0] // 2, dims[0])]):
        layout += [(f'stem.{i}.conv.weight', (cout, cin, 3, 3))] + bn_keys(f'stem.{i}.bn.', cout)
    for i, c in enumerate(dims):
        for k in range(s['num_paths'][i]):
            p = f'patch_embed_stages.{i}.patch_embeds.{k}.patch_conv.'
            layout += [(p + 'dwconv.weight', (c, 1, 3, 3)), (p + 'pwconv.weight', (c, c, 1, 1))]
            layout += bn_keys(p + 'bn.', c)
    for i, c in enumerate(dims):
        ch, hid = c // s['num_heads'][i], c * s['mlp_ratios'][i]
        cpe = [('cpe.proj.weight', (c, 1, 3, 3)), ('cpe.proj.bias', (c, ))]
        crpe = []
        for idx, (k, heads) in enumerate(WINDOW.items()):
            crpe += [(f'crpe.conv_list.{idx}.weight', (heads * ch, 1, k, k)),
                     (f'crpe.conv_list.{idx}.bias', (heads * ch, ))]
        for j in range(s['num_paths'][i]):
            p = f'mhca_stages.{i}.mhca_blks.{j}.'
            layout += [(p + k, v) for k, v in cpe + crpe]
            for m in range(s['num_layers'][i]):
                q = f'{p}MHCA_layers.{m}.'
                layout += [(q + k, v) for k, v in cpe + crpe]
                layout += [(q + 'factoratt_crpe.qkv.weight', (3 * c, c)),
                           (q + 'factoratt_crpe.qkv.bias', (3 * c, )),
                           (q + 'factoratt_crpe.proj.weight', (c, c)),
                           (q + 'factoratt_crpe.proj.bias', (c, ))]
                layout += [(q + 'factoratt_crpe.' + k, v) for k, v in crpe]
                layout += [(q + 'mlp.fc1.weight', (hid, c)), (q + 'mlp.fc1.bias', (hid, )),
                           (q + 'mlp.fc2.weight', (c, hid)), (q + 'mlp.fc2.bias', (c, ))]
                layout += [(q + f'norm{n}.{w}', (c, )) for n in (1, 2) for w in ('weight', 'bias')]
        p = f'mhca_stages.{i}.'
        layout += [(p + 'InvRes.conv1.conv.weight', (c, c, 1, 1))] + bn_keys(
            p + 'InvRes.conv1.bn.', c)
        layout += [(p + 'InvRes.dwconv.weight', (c, 1, 3, 3))] + bn_keys(p + 'InvRes.norm.', c)
        layout += [(p + 'InvRes.conv2.conv.weight', (c, c, 1, 1))] + bn_keys(
            p + 'InvRes.conv2.bn.', c)
        out = OUT_CHANNELS[arch][i]
        layout += [(p + 'aggregate.conv.weight', (out, c * (s['num_paths'][i] + 1), 1, 1))]
        layout += bn_keys(p + 'aggregate.bn.', out)
    return layout


def canonical(key):
    """The key of the tensor an official key aliases (itself when it is not shared)."""
    if 'MHCA_layers.' in key and ('.cpe.' in key or '.crpe.' in key):
        encoder, layer_key = key.split('MHCA_layers.')
        return encoder + layer_key.split('.', 1)[1].replace('factoratt_crpe.', '')
    return key


def fake_official_checkpoint(arch, seed=1):
    """Official-layout checkpoint with random tensors, aliases sharing one tensor."""
    gen = torch.Generator().manual_seed(seed)
    state_dict = {}
    for key, shape in official_layout(arch):
        base = canonical(key)
        if base in state_dict:
            state_dict[key] = state_dict[base]
        elif key.endswith('num_batches_tracked'):
            state_dict[key] = torch.tensor(7)
        else:
            state_dict[key] = torch.rand(shape, generator=gen) + 0.5
    c = OUT_CHANNELS[arch][-1]
    head = {'head.weight': torch.randn(1000, c), 'head.bias': torch.randn(1000)}
    return {'model': {**state_dict, **head}, 'epoch': 300}


def load_converter_tool():
    path = osp.join(REPO, 'tools', 'model_converters', 'mpvit2mmdense.py')
    spec = importlib.util.spec_from_file_location('mpvit2mmdense', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('arch', ARCHS)
def test_param_counts_and_layout_match_official(arch):
    model = MPViT(arch=arch)
    assert num_params(model) == OFFICIAL_NUM_PARAMS[arch]
    assert model.out_channels == OUT_CHANNELS[arch]
    layout = official_layout(arch)
    unique = {canonical(k): s for k, s in layout}
    assert sum(math.prod(s) for k, s in unique.items() if 'running' not in k
               and 'num_batches' not in k) == OFFICIAL_NUM_PARAMS[arch]
    if arch in OFFICIAL_NUM_ENTRIES:
        assert len(layout) == OFFICIAL_NUM_ENTRIES[arch]
    reference = load_reference(f'mpvit_{arch}')
    assert [(k, tuple(s)) for k, s in reference['state_dict']] == layout
    assert reference['num_params'] == OFFICIAL_NUM_PARAMS[arch]


def test_seeded_build_reproduces_official_outputs():
    torch.manual_seed(0)
    model = MPViT(arch='tiny', norm_cfg=dict(type='BN'))
    model.init_weights()
    model.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outs = model(x)
    assert [tuple(o.shape) for o in outs] == [(2, 96, 56, 56), (2, 176, 28, 28),
                                              (2, 216, 14, 14), (2, 216, 7, 7)]
    for out, (mean, mean_abs) in zip(outs, OFFICIAL_TINY_SEED0_STATS):
        assert out.mean().item() == pytest.approx(mean, rel=1e-4)
        assert out.abs().mean().item() == pytest.approx(mean_abs, rel=1e-4)


@pytest.mark.parametrize('size', [(224, 224), (160, 96), (75, 53)])
def test_output_shapes(size):
    model = MODELS.build(dict(type='MPViT', arch='tiny', out_indices=(0, 1, 2, 3)))
    model.eval()
    h, w = size
    with torch.no_grad():
        outs = model(torch.randn(1, 3, h, w))
    h, w = (h + 1) // 2, (w + 1) // 2  # stem: two 3x3 stride-2 convs, padding 1
    expected = []
    for c in OUT_CHANNELS['tiny']:
        h, w = (h + 1) // 2, (w + 1) // 2  # the stem's second conv, then each stage's embed
        expected.append((1, c, h, w))
    assert [tuple(o.shape) for o in outs] == expected
    assert all(o.is_contiguous() for o in outs)


def test_out_indices_and_arch_dict():
    arch = dict(num_paths=[1, 2], num_layers=[1, 2], embed_dims=[16, 24], mlp_ratios=[2, 3],
                num_heads=[8, 8])
    model = MPViT(arch=arch, out_indices=(1, ))
    assert model.out_channels == [24, 24]
    outs = model(torch.randn(2, 3, 32, 32))
    assert len(outs) == 1 and outs[0].shape == (2, 24, 4, 4)


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='huge'), 'unknown arch'),
    (dict(arch=dict(num_paths=[2])), 'lacks'),
    (dict(arch='tiny', out_indices=(4, )), 'out_indices'),
    (dict(arch='tiny', crpe_window={3: 2, 5: 2}), 'crpe_window'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MPViT(**kwargs)


def test_with_cp_gives_identical_outputs_and_grads():
    torch.manual_seed(0)
    plain = MPViT(arch='tiny', drop_path_rate=0.3)
    ckpt = MPViT(arch='tiny', drop_path_rate=0.3, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 48)
    results = []
    for model in (plain, ckpt):
        model.train()
        torch.manual_seed(3)  # same stochastic-depth draws
        outs = model(x)
        sum((o * torch.linspace(0, 1, o.shape[1]).view(1, -1, 1, 1)).sum()
            for o in outs).backward()
        results.append(([o.detach() for o in outs],
                        {n: p.grad.clone() for n, p in model.named_parameters()}))
    for a, b in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert results[0][1].keys() == results[1][1].keys()
    for name, grad in results[0][1].items():
        torch.testing.assert_close(grad, results[1][1][name], rtol=1e-6, atol=1e-7, msg=name)
    assert results[0][1]['mhca_stages.1.encoders.layers.1.attn.qkv.weight'].abs().sum() > 0


def test_norm_eval_keeps_bn_frozen():
    model = MPViT(arch='tiny', norm_eval=True)
    assert model.train() is model
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert model.mhca_stages[0].encoders.training
    before = model.stem[0].bn.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(model.stem[0].bn.running_mean, before)
    model = MPViT(arch='tiny', norm_eval=False).train()
    assert all(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_converter_maps_every_official_key():
    checkpoint = fake_official_checkpoint('tiny')
    official = checkpoint['model']
    converted, dropped = convert_mpvit_state_dict(checkpoint)
    assert sorted(dropped) == ['head.bias', 'head.weight']
    model = MPViT(arch='tiny')
    assert set(converted) == set(model.state_dict())
    model.load_state_dict(converted, strict=True)
    # Every value of the model comes from the matching official tensor.
    s = MPViT.arch_zoo['tiny']
    for i in range(4):
        enc = model.mhca_stages[i].encoders
        for j in range(s['num_paths'][i]):
            p = f'mhca_stages.{i}.mhca_blks.{j}.'
            torch.testing.assert_close(enc.cpe.weight[j], official[p + 'cpe.proj.weight'])
            torch.testing.assert_close(enc.cpe.bias[j], official[p + 'cpe.proj.bias'])
            for idx in range(3):
                torch.testing.assert_close(
                    enc.crpe.conv_weights[idx][j], official[f'{p}crpe.conv_list.{idx}.weight'])
                torch.testing.assert_close(
                    enc.crpe.conv_biases[idx][j], official[f'{p}crpe.conv_list.{idx}.bias'])
            for m, layer in enumerate(enc.layers):
                q = f'{p}MHCA_layers.{m}.'
                pairs = [(layer.attn.qkv, 'factoratt_crpe.qkv'),
                         (layer.attn.proj, 'factoratt_crpe.proj'), (layer.fc1, 'mlp.fc1'),
                         (layer.fc2, 'mlp.fc2'), (layer.norm1, 'norm1'), (layer.norm2, 'norm2')]
                for module, name in pairs:
                    torch.testing.assert_close(module.weight[j], official[f'{q}{name}.weight'])
                    torch.testing.assert_close(module.bias[j], official[f'{q}{name}.bias'])
    plain = {k: v for k, v in official.items() if 'mhca_blks' not in k and 'head' not in k}
    ours = model.state_dict()
    for key, value in plain.items():
        new = key.replace('.patch_conv.', '.').replace('.InvRes.', '.inv_res.')
        torch.testing.assert_close(ours[new], value, msg=key)


def test_converter_unwraps_and_checks_aliases():
    checkpoint = fake_official_checkpoint('tiny')
    bare, _ = convert_mpvit_state_dict(checkpoint['model'])
    wrapped, _ = convert_mpvit_state_dict(
        {'state_dict': {'module.' + k: v for k, v in checkpoint['model'].items()}})
    assert bare.keys() == wrapped.keys()
    assert all(torch.equal(bare[k], wrapped[k]) for k in bare)

    broken = dict(checkpoint['model'])
    key = 'mhca_stages.1.mhca_blks.2.MHCA_layers.1.factoratt_crpe.crpe.conv_list.2.weight'
    broken[key] = broken[key] + 1
    with pytest.raises(ValueError, match='alias'):
        convert_mpvit_state_dict(broken)
    missing = {k: v for k, v in checkpoint['model'].items()
               if not k.startswith('mhca_stages.2.mhca_blks.1.')}
    with pytest.raises(ValueError, match='paths'):
        convert_mpvit_state_dict(missing)
    with pytest.raises(ValueError, match='no MPViT backbone key'):
        convert_mpvit_state_dict({'model': {'fc.weight': torch.zeros(2)}})


def test_converter_tool_and_pretrained_init(tmp_path):
    checkpoint = fake_official_checkpoint('tiny', seed=2)
    src, dst = str(tmp_path / 'mpvit_tiny.pth'), str(tmp_path / 'out' / 'mpvit-t_mmdense.pth')
    torch.save(checkpoint, src)
    tool = load_converter_tool()
    tool.main([src, dst])
    saved = torch.load(dst, weights_only=True)['state_dict']
    model = MODELS.build(
        dict(type='MPViT', arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=dst)))
    model.init_weights()
    state = model.state_dict()
    assert set(state) == set(saved)
    for key, value in saved.items():
        assert torch.equal(state[key], value), key
    with pytest.raises(FileNotFoundError):
        tool.convert(str(tmp_path / 'missing.pth'), dst)


@pytest.mark.parametrize('arch, cfg', [
    ('tiny', 'upernet_mpvit-t_8xb2-160k_ade20k-512x512.py'),
    ('xsmall', 'upernet_mpvit-xs_8xb2-160k_ade20k-512x512.py'),
    ('small', 'upernet_mpvit-s_8xb2-160k_ade20k-512x512.py'),
    ('base', 'upernet_mpvit-b_8xb2-160k_ade20k-512x512.py'),
])
def test_configs(arch, cfg):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mpvit', cfg))
    model = cfg.model
    assert model.backbone.arch == arch
    assert model.decode_head.in_channels == OUT_CHANNELS[arch]
    assert model.auxiliary_head.in_channels == OUT_CHANNELS[arch][model.auxiliary_head.in_index]
    assert model.backbone.norm_cfg.type == 'SyncBN' and model.backbone.norm_eval is False
    assert model.backbone.drop_path_rate == {'small': 0.2, 'base': 0.4}.get(arch, 0.1)
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                                               weight_decay=0.01)
    assert [(s.type, s.begin, s.end) for s in cfg.param_scheduler] == [
        ('LinearLR', 0, 1501), ('PolyLR', 0, 160001)]
    assert cfg.train_cfg.max_iters == 160000 and cfg.train_dataloader.batch_size == 2
    assert model.data_preprocessor.type == 'SegDataPreProcessor'


def test_config_model_builds_and_runs():
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'mpvit', 'upernet_mpvit-t_8xb2-160k_ade20k-512x512.py'))
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdense'):
        model = MODELS.build(cfg.model)
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, 150, 16, 16)


def test_inference_fast_path_matches_autograd_path():
    # Without autograd the layers reuse buffers in place; results must not change.
    torch.manual_seed(0)
    model = MPViT(arch='tiny').eval()
    x = torch.randn(2, 3, 80, 64)
    with torch.no_grad():
        fast = model(x)
    slow = model(x)
    assert slow[0].requires_grad
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=0)


def test_traced_forward_and_flop_count():
    from mmengine.analysis import get_model_complexity_info
    torch.manual_seed(0)
    model = MPViT(arch='tiny').eval()
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        traced = torch.jit.trace(model, (x, ), check_trace=False)
        for a, b in zip(traced(x), model(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        flops = get_model_complexity_info(model, inputs=(torch.zeros(1, 3, 224, 224), ),
                                          show_table=False, show_arch=False)['flops']
    # Official docstring count (fvcore) minus the 1000-class head (216 * 1000 + pooling).
    assert flops == pytest.approx(1_654_163_812 - 216_000, rel=5e-3)


def test_multi_path_linear_matches_per_path_linear():
    torch.manual_seed(0)
    layer = MultiPathLinear(3, 5, 4)
    torch.nn.init.normal_(layer.weight)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(3, 7, 5, requires_grad=True)
    # A token-major gradient seen path-major (as the residual connection hands it back).
    grad = torch.randn(7, 3, 4).transpose(0, 1)
    out = layer(x)
    out.backward(grad)
    ref_x = x.detach().clone().requires_grad_()
    ref_w = layer.weight.detach().clone().requires_grad_()
    ref_b = layer.bias.detach().clone().requires_grad_()
    ref = torch.stack([torch.nn.functional.linear(ref_x[p], ref_w[p], ref_b[p])
                       for p in range(3)])
    ref.backward(grad)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x.grad, ref_x.grad)
    torch.testing.assert_close(layer.weight.grad, ref_w.grad)
    torch.testing.assert_close(layer.bias.grad, ref_b.grad)
