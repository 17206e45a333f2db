"""Tests of the HRFormer backbone, its official-checkpoint converter and its configs."""
import copy
import importlib.util
import math
import os.path as osp
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from timm.layers import trunc_normal_

import mmdense.models  # noqa: F401
from mmdense.models.backbones.hrformer import HRFormerBlock, HRFormerLocalAttention, HRFormerModule
from mmdense.models.backbones.hrformer_checkpoint import (
    convert_hrformer_state_dict,
    relative_position_index,
)
from mmdense.registry import MODELS
from tests.helpers.reference import load_reference

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Official HRT (HRNet/HRFormer @ 1245b88b, pose/mmpose/models/backbones/hrt.py) of
# hrt_{small,base}_coco_256x192.py: parameter and state-dict entry counts, and the output stats
# (mean = mean |x|, the output is after a ReLU) of HRT(extra, norm_cfg=BN) built after
# torch.manual_seed(0), init_weights(pretrained=None), eval mode, on
# torch.randn(2, 3, 256, 192) drawn from torch.Generator().manual_seed(0).
OFFICIAL_NUM_PARAMS = {'small': 7_746_218, 'base': 43_210_434}
OFFICIAL_NUM_ENTRIES = 2074
OFFICIAL_SMALL_SEED0_MEAN = 0.6210195923065598

WIDTHS = {'small': ([32, 64, 128, 256], [1, 2, 4, 8]), 'base': ([78, 156, 312, 624], [2, 4, 8, 16])}


def hrformer_extra(arch='small', with_rpe=False, seg=False, drop_path_rate=0.):
    """``extra`` of the mmdense OfficialHRFormer (MMPose layout) for the official architectures."""
    channels, heads = WIDTHS[arch]
    extra = dict(
        drop_path_rate=drop_path_rate,
        with_rpe=with_rpe,
        stage1=dict(
            num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(2, ),
            num_channels=(64, )))
    for s, num_modules in ((2, 1), (3, 4), (4, 2)):
        extra[f'stage{s}'] = dict(
            num_modules=num_modules,
            num_branches=s,
            block='HRFORMERBLOCK',
            num_blocks=(2, ) * s,
            num_channels=tuple(channels[:s]),
            num_heads=heads[:s],
            mlp_ratios=[4] * s,
            window_sizes=[7] * s)
    extra['stage4']['multiscale_output'] = seg
    if seg:
        extra['upsample'] = dict(mode='nearest', align_corners=None, resize_align_corners=True)
    return extra


def build_hrformer(arch='small', **kwargs):
    return MODELS.build(dict(type='OfficialHRFormer', extra=hrformer_extra(arch, **kwargs),
                             norm_cfg=dict(type='BN')))


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def _bn(prefix, c):
    return [(f'{prefix}.weight', (c, )), (f'{prefix}.bias', (c, )),
            (f'{prefix}.running_mean', (c, )), (f'{prefix}.running_var', (c, )),
            (f'{prefix}.num_batches_tracked', ())]


def official_layout(arch='small'):
    """[(key, shape)] of the official HRT state dict in its order (buffers included)."""
    channels, heads = WIDTHS[arch]
    layout = [('conv1.weight', (64, 3, 3, 3))] + _bn('bn1', 64)
    layout += [('conv2.weight', (64, 64, 3, 3))] + _bn('bn2', 64)
    for b in range(2):
        p, inplanes = f'layer1.{b}', 64 if b == 0 else 256
        if b == 0:
            layout += [(f'{p}.downsample.0.weight', (256, 64, 1, 1))]
            layout += _bn(f'{p}.downsample.1', 256)
        layout += [(f'{p}.conv1.weight', (64, inplanes, 1, 1))] + _bn(f'{p}.bn1', 64)
        layout += [(f'{p}.conv2.weight', (64, 64, 3, 3))] + _bn(f'{p}.bn2', 64)
        layout += [(f'{p}.conv3.weight', (256, 64, 1, 1))] + _bn(f'{p}.bn3', 256)
    pre = [256]
    for s, num_modules in ((2, 1), (3, 4), (4, 2)):
        cur = channels[:s]
        for i, c in enumerate(cur):
            if i < len(pre) and pre[i] != c:
                layout += [(f'transition{s - 1}.{i}.0.weight', (c, pre[i], 3, 3))]
                layout += _bn(f'transition{s - 1}.{i}.1', c)
            elif i >= len(pre):
                layout += [(f'transition{s - 1}.{i}.0.0.weight', (c, pre[-1], 3, 3))]
                layout += _bn(f'transition{s - 1}.{i}.0.1', c)
        for m in range(num_modules):
            for br, (c, h) in enumerate(zip(cur, heads)):
                for k in range(2):
                    p = f'stage{s}.{m}.branches.{br}.{k}'
                    layout += [(f'{p}.attn.attn.relative_position_bias_table', (169, h)),
                               (f'{p}.attn.attn.relative_position_index', (49, 49))]
                    for proj in ('k_proj', 'v_proj', 'q_proj', 'out_proj'):
                        layout += [(f'{p}.attn.attn.{proj}.weight', (c, c)),
                                   (f'{p}.attn.attn.{proj}.bias', (c, ))]
                    layout += [(f'{p}.norm1.weight', (c, )), (f'{p}.norm1.bias', (c, )),
                               (f'{p}.norm2.weight', (c, )), (f'{p}.norm2.bias', (c, ))]
                    layout += [(f'{p}.mlp.fc1.weight', (4 * c, c, 1, 1)),
                               (f'{p}.mlp.fc1.bias', (4 * c, ))] + _bn(f'{p}.mlp.norm1', 4 * c)
                    layout += [(f'{p}.mlp.dw3x3.weight', (4 * c, 1, 3, 3)),
                               (f'{p}.mlp.dw3x3.bias', (4 * c, ))] + _bn(f'{p}.mlp.norm2', 4 * c)
                    layout += [(f'{p}.mlp.fc2.weight', (c, 4 * c, 1, 1)),
                               (f'{p}.mlp.fc2.bias', (c, ))] + _bn(f'{p}.mlp.norm3', c)
            num_out = 1 if (s == 4 and m == num_modules - 1) else s
            for i in range(num_out):
                for j in range(s):
                    p = f'stage{s}.{m}.fuse_layers.{i}.{j}'
                    if j > i:
                        layout += [(f'{p}.0.weight', (cur[i], cur[j], 1, 1))]
                        layout += _bn(f'{p}.1', cur[i])
                    for k in range(i - j):
                        out = cur[i] if k == i - j - 1 else cur[j]
                        layout += [(f'{p}.{k}.0.weight', (cur[j], 1, 3, 3))]
                        layout += _bn(f'{p}.{k}.1', cur[j])
                        layout += [(f'{p}.{k}.2.weight', (out, cur[j], 1, 1))]
                        layout += _bn(f'{p}.{k}.3', out)
        pre = cur
    return layout


def official_seed_state_dict(layout):
    """Weights of the official ``HRT`` built after ``torch.manual_seed`` + ``init_weights()``.

    Replays the random draws of the official constructor in its order (every Conv2d/Linear
    draws its default init; each MHA_ draws its bias table after its four projections), then
    those of ``init_weights(pretrained=None)``: conv weights ~ N(0, 0.001), conv biases 0.
    """
    shapes = OrderedDict(layout)
    state, table_of = {}, {}
    for key, shape in shapes.items():
        prefix, name = key.rsplit('.', 1)
        if name == 'relative_position_bias_table':
            table_of[prefix] = key
        elif name == 'relative_position_index':
            state[key] = relative_position_index(7)
        elif name == 'weight' and len(shape) in (2, 4):  # nn.Conv2d / nn.Linear
            weight = torch.empty(shape)
            torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            state[key] = weight
            if f'{prefix}.bias' in shapes:
                bound = 1 / math.sqrt(weight[0].numel())
                state[f'{prefix}.bias'] = torch.empty(shape[0]).uniform_(-bound, bound)
            if prefix.endswith('.out_proj'):
                table = torch.zeros(shapes[table_of[prefix[:-9]]])
                trunc_normal_(table, std=0.02)
                state[table_of.pop(prefix[:-9])] = table
        elif name == 'num_batches_tracked':
            state[key] = torch.tensor(0)
        elif key not in state:  # norms: weight/var 1, bias/mean 0
            state[key] = torch.ones(shape) if name in ('weight', 'running_var') else torch.zeros(
                shape)
    for key, shape in shapes.items():
        if len(shape) == 4:
            state[key] = torch.empty(shape).normal_(0, 0.001)
            bias = key[:-len('weight')] + 'bias'
            if bias in state:
                state[bias] = torch.zeros_like(state[bias])
    return OrderedDict((k, state[k]) for k in shapes)


def fake_official_state_dict(layout, seed=0):
    """Random weights for every key of an official HRT state dict (real index buffers)."""
    g = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in layout:
        if key.endswith('relative_position_index'):
            state[key] = relative_position_index(7)
        elif key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.1
    return state


# --------------------------------------------------------------------------- architecture


@pytest.mark.parametrize('arch', ['small', 'base'])
def test_official_layout_and_param_counts(arch):
    layout = official_layout(arch)
    assert len(layout) == OFFICIAL_NUM_ENTRIES
    assert sum(math.prod(s) for k, s in layout
               if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked',
                                  'relative_position_index'))) == OFFICIAL_NUM_PARAMS[arch]
    reference = load_reference(f'hrformer_{arch}')
    assert [(k, tuple(s)) for k, s in reference['state_dict']] == layout
    assert reference['num_params'] == OFFICIAL_NUM_PARAMS[arch]
    # the mmdense model has the official parameters whether or not the bias is added
    for with_rpe in (False, True):
        assert num_params(build_hrformer(arch, with_rpe=with_rpe)) == OFFICIAL_NUM_PARAMS[arch]


def test_pose_output_shape_and_frozen_unused_tables():
    model = build_hrformer('small', with_rpe=False)
    model.eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 256, 192))
    assert len(outs) == 1 and outs[0].shape == (2, 32, 64, 48) and outs[0].is_contiguous()
    tables = [p for n, p in model.named_parameters() if n.endswith('relative_position_bias_table')]
    assert len(tables) == 44 and not any(t.requires_grad for t in tables)
    assert all(t.requires_grad for t in build_hrformer('small', with_rpe=True).parameters())


def test_seeded_official_init_reproduces_official_output():
    """Official weights (seed 0) -> converter -> mmdense gives the official output stats."""
    torch.manual_seed(0)
    official = official_seed_state_dict(official_layout('small'))
    model = build_hrformer('small', with_rpe=False)
    model.load_state_dict(convert_hrformer_state_dict(official), strict=True)
    model.eval()
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    # conv weights ~ N(0, 0.001) give denormal activations, which are very slow on CPU
    torch.set_flush_denormal(True)
    try:
        with torch.no_grad():
            (out, ) = model(x)
    finally:
        torch.set_flush_denormal(False)
    assert out.shape == (2, 32, 64, 48)
    assert out.double().mean().item() == pytest.approx(OFFICIAL_SMALL_SEED0_MEAN, rel=1e-6)
    assert out.double().abs().mean().item() == pytest.approx(OFFICIAL_SMALL_SEED0_MEAN, rel=1e-6)
    # the (unused) bias tables of the official pose model are inert; adding them changes it
    model_rpe = build_hrformer('small', with_rpe=True)
    model_rpe.load_state_dict(model.state_dict())
    model_rpe.eval()
    with torch.no_grad():
        assert not torch.allclose(model_rpe(x)[0], out, rtol=1e-4, atol=1e-4)


def test_segmentation_variant_outputs_all_branches_at_odd_sizes():
    torch.manual_seed(0)
    seg = build_hrformer('small', with_rpe=True, seg=True)
    for name, param in seg.named_parameters():
        if name.endswith('relative_position_bias_table'):  # zeros until init_weights()
            param.data.normal_()
    pose_like = build_hrformer('small', with_rpe=False, seg=True)
    pose_like.load_state_dict(seg.state_dict())
    for model in (seg, pose_like):
        model.eval()
    # 100 -> 25, 13, 7, 4: upsampled low resolutions are resized to the exact branch size
    x = torch.randn(1, 3, 100, 100)
    with torch.no_grad():
        outs = seg(x)
        outs_no_rpe = pose_like(x)
    assert [tuple(o.shape) for o in outs] == [(1, 32, 25, 25), (1, 64, 13, 13), (1, 128, 7, 7),
                                              (1, 256, 4, 4)]
    assert not torch.allclose(outs[0], outs_no_rpe[0], rtol=1e-3, atol=1e-3)


# ------------------------------------------------- equality with the official semantics


def official_window_attention(x, H, W, weights, num_heads, window=7, with_rpe=False):
    """The official pose/seg HRT attention, written out: separate q/k/v/out projections,
    centre zero padding of the normalised tokens, contiguous windows in sequence-first
    layout (``n (qh ph) (qw pw) c -> (ph pw) (n qh qw) c``), q scaled after its bias,
    padded tokens unmasked, the bias added only by the segmentation code."""
    B, N, C = x.shape
    pad_h, pad_w = -H % window, -W % window
    x = F.pad(x.view(B, H, W, C), (0, 0, pad_w // 2, pad_w - pad_w // 2, pad_h // 2,
                                   pad_h - pad_h // 2))
    Hp, Wp = H + pad_h, W + pad_w
    t = x.view(B, Hp // window, window, Wp // window, window, C).permute(2, 4, 0, 1, 3, 5)
    t = t.reshape(window * window, -1, C)
    L, num_windows, _ = t.shape
    head_dim = C // num_heads

    def proj(name):
        return t @ weights[f'{name}_proj.weight'].T + weights[f'{name}_proj.bias']

    q = (proj('q') * head_dim**-0.5).reshape(L, num_windows * num_heads, head_dim).transpose(0, 1)
    k = proj('k').reshape(L, num_windows * num_heads, head_dim).transpose(0, 1)
    v = proj('v').reshape(L, num_windows * num_heads, head_dim).transpose(0, 1)
    attn = q @ k.transpose(1, 2)
    if with_rpe:
        bias = weights['relative_position_bias_table'][relative_position_index(window).view(-1)]
        attn = (attn.view(num_windows, num_heads, L, L) +
                bias.view(L, L, -1).permute(2, 0, 1)).view(-1, L, L)
    out = (attn.softmax(-1) @ v).transpose(0, 1).reshape(L, num_windows, C)
    out = out @ weights['out_proj.weight'].T + weights['out_proj.bias']
    out = out.view(window, window, B, Hp // window, Wp // window, C).permute(2, 3, 0, 4, 1, 5)
    out = out.reshape(B, Hp, Wp, C)[:, pad_h // 2:pad_h // 2 + H, pad_w // 2:pad_w // 2 + W]
    return out.reshape(B, N, C)


@pytest.mark.parametrize('with_rpe', [False, True])
@pytest.mark.parametrize('hw', [(10, 9), (14, 7), (3, 16)])
def test_window_attention_matches_official_semantics(with_rpe, hw):
    H, W = hw
    C, num_heads = 16, 2
    g = torch.Generator().manual_seed(1)
    weights = {f'{n}_proj.{t}': torch.randn((C, C) if t == 'weight' else (C, ), generator=g) * 0.3
               for n in ('q', 'k', 'v', 'out') for t in ('weight', 'bias')}
    weights['relative_position_bias_table'] = torch.randn(169, num_heads, generator=g)
    official = {f'stage2.0.branches.0.0.attn.attn.{k}': v for k, v in weights.items()}
    official['stage2.0.branches.0.0.attn.attn.relative_position_index'] = relative_position_index(7)
    converted = convert_hrformer_state_dict(official)
    prefix = 'stage2.0.branches.0.0.attn.'
    attn = HRFormerLocalAttention(C, num_heads, 7, with_rpe=with_rpe)
    attn.load_state_dict({k[len(prefix):]: v for k, v in converted.items()}, strict=True)
    x = torch.randn(2, H * W, C, generator=g)
    expected = official_window_attention(x, H, W, weights, num_heads, with_rpe=with_rpe)
    torch.testing.assert_close(attn(x, H, W), expected, rtol=1e-5, atol=1e-5)
    attn.eval()
    with torch.no_grad():
        torch.testing.assert_close(attn(x, H, W), expected, rtol=1e-5, atol=1e-5)


def official_ffn(block, x, H, W):
    """MlpDWBN of the official code on (B, C, H, W): the final GELU included."""
    f = block.ffn
    y = F.gelu(f.norm1(f.fc1(x)))
    y = F.gelu(f.norm2(f.dw3x3(y)))
    return F.gelu(f.norm3(f.fc2(y)))


@pytest.mark.parametrize('training', [True, False])
def test_block_matches_official_semantics(training):
    """x + attn(LN(x)), then x + FFN(LN(x)) with LN eps 1e-6; BN folded in inference."""
    torch.manual_seed(0)
    block = HRFormerBlock(16, 16, 2, 7, 4.0, norm_cfg=dict(type='BN'), with_rpe=False)
    for m in block.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    assert block.norm1.eps == block.norm2.eps == 1e-6
    block.train(training)
    x = torch.randn(2, 16, 10, 9)
    tokens = x.flatten(2).transpose(1, 2)
    with torch.no_grad():
        y = tokens + block.attn(block.norm1(tokens), 10, 9)
        z = block.norm2(y).transpose(1, 2).reshape(2, 16, 10, 9)
        expected = y.transpose(1, 2).reshape(2, 16, 10, 9) + official_ffn(block, z, 10, 9)
        out = block(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('seg', [False, True])
def test_fuse_layers_resize_as_official(seg):
    """Upsampled branches are resized to the exact size: nearest + bilinear(align_corners=True)
    in the segmentation code, bilinear + bilinear(align_corners=False) in the pose code."""
    upsample = (dict(mode='nearest', align_corners=None, resize_align_corners=True)
                if seg else dict(mode='bilinear', align_corners=False))
    torch.manual_seed(0)
    module = HRFormerModule(
        2, HRFormerBlock, (1, 1), [8, 16], [8, 16], [1, 2], [7, 7], [4, 4],
        multiscale_output=True, drop_paths=[0., 0.], norm_cfg=dict(type='BN'),
        upsample_cfg=upsample)
    module.eval()
    x0, x1 = torch.randn(1, 8, 9, 9), torch.randn(1, 16, 5, 5)
    with torch.no_grad():
        b0, b1 = module.branches[0](x0), module.branches[1](x1)
        up = module.fuse_layers[0][1](b1)  # 1x1 conv, BN, x2 upsample -> 10x10
        assert up.shape[2:] == (10, 10)
        up = F.interpolate(up, size=(9, 9), mode='bilinear', align_corners=seg)
        expected0 = F.relu(b0 + up)
        expected1 = F.relu(module.fuse_layers[1][0](b0) + b1)
        out0, out1 = module([x0, x1])
    torch.testing.assert_close(out0, expected0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out1, expected1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('training', [False, True])
def test_same_function_as_mmpose_hrformer_where_it_applies(training):
    """With the bias added and even feature sizes, MMPose's HRFormer computes the official
    function too; the mmdense one (layout changes, batch norms folded in inference) must give
    the same outputs from the same state dict."""
    from mmpose.models.backbones import HRFormer as MMPoseHRFormer

    torch.manual_seed(0)
    ours = build_hrformer('small', with_rpe=True)
    with torch.no_grad():
        for name, value in ours.state_dict().items():
            if name.endswith('running_var'):
                value.uniform_(0.5, 1.5)
            elif name.endswith(('running_mean', 'relative_position_bias_table')):
                value.normal_(0, 0.5)
            elif value.dtype.is_floating_point and value.dim() == 1:
                value.uniform_(0.5, 1.5) if name.endswith('weight') else value.normal_(0, 0.2)
    mmpose = MMPoseHRFormer(hrformer_extra('small', with_rpe=True), norm_cfg=dict(type='BN'))
    mmpose.load_state_dict(ours.state_dict(), strict=True)
    ours.train(training)
    mmpose.train(training)
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        expected, = mmpose(x)
        out, = ours(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ converter


def load_converter():
    path = osp.join(REPO, 'tools/model_converters/hrformer2mmdense.py')
    spec = importlib.util.spec_from_file_location('hrformer2mmdense', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converter_round_trip_on_fake_official_checkpoint(tmp_path):
    convert_main = load_converter().main
    layout = official_layout('small')
    official = fake_official_state_dict(layout)
    src, dst = tmp_path / 'hrt_small.pth', tmp_path / 'hrformer-s.pth'
    torch.save({'state_dict': OrderedDict(('module.' + k, v) for k, v in official.items()),
                'meta': {'epoch': 3}}, src)
    convert_main([str(src), str(dst)])
    converted = torch.load(dst, map_location='cpu')['state_dict']
    model = build_hrformer('small', with_rpe=False)
    model.load_state_dict(converted, strict=True)  # every parameter and buffer is filled
    # every official tensor went somewhere: the values are conserved, q/k/v stacked in order
    assert sum(v.numel() for v in converted.values()) == sum(v.numel() for v in official.values())
    p = 'stage3.2.branches.1.0.attn.attn.'
    torch.testing.assert_close(
        model.state_dict()[p + 'qkv.weight'],
        torch.cat([official[p + 'q_proj.weight'], official[p + 'k_proj.weight'],
                   official[p + 'v_proj.weight']]))
    torch.testing.assert_close(model.state_dict()[p + 'proj.bias'], official[p + 'out_proj.bias'])
    q = 'stage4.1.branches.3.1.'
    torch.testing.assert_close(model.state_dict()[q + 'ffn.norm2.running_var'],
                               official[q + 'mlp.norm2.running_var'])
    torch.testing.assert_close(model.state_dict()[q + 'attn.attn.relative_position_bias_table'],
                               official[q + 'attn.attn.relative_position_bias_table'])


def test_converter_on_full_pose_checkpoint_and_bad_input():
    official = fake_official_state_dict(official_layout('small'))
    full = OrderedDict(('backbone.' + k, v) for k, v in official.items())
    full['keypoint_head.final_layer.weight'] = torch.randn(17, 32, 1, 1)
    full['keypoint_head.final_layer.bias'] = torch.randn(17)
    converted = convert_hrformer_state_dict(full)
    assert 'head.final_layer.weight' in converted
    assert 'backbone.stage2.0.branches.0.0.attn.attn.qkv.weight' in converted
    assert not any(k.startswith('keypoint_head') for k in converted)

    with pytest.raises(ValueError, match='cls_head.weight'):
        convert_hrformer_state_dict({**official, 'cls_head.weight': torch.zeros(1)})
    incomplete = dict(official)
    del incomplete['stage2.0.branches.0.0.attn.attn.v_proj.weight']
    with pytest.raises(ValueError, match='incomplete'):
        convert_hrformer_state_dict(incomplete)
    bad_index = dict(official)
    bad_index['stage2.0.branches.0.0.attn.attn.relative_position_index'] = torch.zeros(
        49, 49, dtype=torch.long)
    with pytest.raises(ValueError, match='relative position index'):
        convert_hrformer_state_dict(bad_index)


def test_relative_position_index_matches_mmpose():
    model = HRFormerLocalAttention(8, 1, 7)
    assert torch.equal(model.attn.relative_position_index, relative_position_index(7))


# -------------------------------------------------------------------------------- configs


def test_pose_config_builds_and_predicts_heatmaps():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/hrformer/td-hm_hrformer-small_8xb32-210e_coco-256x192.py'))
    assert cfg.default_scope == 'mmpose' and cfg.model.backbone.extra.with_rpe is False
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmpose'):
        from mmpose.registry import MODELS as POSE_MODELS
        model = POSE_MODELS.build(cfg.model)
    assert num_params(model.backbone) == OFFICIAL_NUM_PARAMS['small']
    model.eval()
    with torch.no_grad():
        heatmaps = model.head(model.backbone(torch.randn(1, 3, 256, 192)))
    assert heatmaps.shape == (1, 17, 64, 48)
    for name, drop_path, size, sigma in [('small_8xb32-210e_coco-384x288', 0.1, (288, 384), 3),
                                         ('base_8xb32-210e_coco-256x192', 0.2, (192, 256), 2),
                                         ('base_8xb32-210e_coco-384x288', 0.3, (288, 384), 3)]:
        other = Config.fromfile(osp.join(REPO, f'configs/hrformer/td-hm_hrformer-{name}.py'))
        assert other.model.backbone.extra.drop_path_rate == drop_path
        assert other.model.head.decoder.input_size == size
        assert other.model.head.decoder.sigma == sigma
        assert other.train_dataloader.dataset.pipeline[5].input_size == size
        assert other.val_dataloader.dataset.pipeline[2].input_size == size


def test_segmentation_configs():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/hrformer/ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py'))
    cfg.model.backbone.init_cfg = None
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    assert backbone_cfg.extra.with_rpe and backbone_cfg.extra.stage4.multiscale_output
    with DefaultScope.overwrite_default_scope('mmdense'):
        model = MODELS.build(cfg.model)
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 100, 132), mode='tensor')
    assert logits.shape == (1, 19, 25, 33)
    expected = {
        'ocrnet_hrformer-b_4xb2-80k_cityscapes-512x1024': (19, 1170, 0.4, 80000),
        'ocrnet_hrformer-s_4xb4-60k_pascal-context-59-520x520': (59, 480, 0.2, 60000),
        'ocrnet_hrformer-b_4xb4-60k_pascal-context-59-520x520': (59, 1170, 0.2, 60000),
        'ocrnet_hrformer-s_4xb2-150k_ade20k-520x520': (150, 480, 0.2, 150000),
        'ocrnet_hrformer-b_4xb2-150k_ade20k-520x520': (150, 1170, 0.2, 150000),
    }
    for name, (classes, channels, drop_path, iters) in expected.items():
        other = Config.fromfile(osp.join(REPO, f'configs/hrformer/{name}.py'))
        for head in other.model.decode_head:
            assert head.num_classes == classes and sum(head.in_channels) == channels
        assert other.model.backbone.extra.drop_path_rate == drop_path
        assert other.train_cfg.max_iters == iters == other.param_scheduler[-1].end
        assert other.optim_wrapper.optimizer.lr == 1e-4
