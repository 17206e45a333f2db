"""Tests of the DAT v1 backbone, its layers and the checkpoint converter."""
import importlib.util
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from mmdense.models.backbones import DAT
from mmdense.models.backbones.dat_checkpoint import convert_dat_state_dict
from mmdense.models.backbones.dat_layers import (
    MASK_FILL,
    DATDeformableAttention,
    DATWindowAttention,
    reference_points,
    shifted_window_mask,
)
from mmdense.registry import MODELS
from tests.helpers.reference import load_reference

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Parameter counts of the official classification models (LeapLabTHU/DAT @ 797f187f, built
# from configs/dat_{tiny,small,base}.yaml), classifier (cls_norm + cls_head) included.
OFFICIAL_NUM_PARAMS = {'tiny': 28_319_138, 'small': 49_700_402, 'base': 87_881_632}
OFFICIAL_NUM_STATE_DICT_ENTRIES = {'tiny': 219, 'small': 435, 'base': 435}
# Stage outputs (forward hooks on model.stages[i]) of the official DAT-T built after
# torch.manual_seed(0), eval mode, input torch.randn(2, 3, 224, 224) drawn from
# torch.Generator().manual_seed(0): (mean, mean |x|) per stage, from dat_tiny.keys.json.
OFFICIAL_TINY_SEED0_STATS = [
    (-0.018404164684276563, 0.83669311998806),
    (0.004256208409621965, 0.8415155235937173),
    (0.026127549050914883, 0.9150480767108018),
    (-0.011144382118212653, 0.8420050137221341),
]


def classifier_params(arch):
    channels = DAT.arch_zoo[arch]['embed_dims'][-1]
    return 2 * channels + channels * 1000 + 1000


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def official_layout(arch, img_size=224):
    """[(key, shape)] of the official DAT v1 state dict, buffers included."""
    s = DAT.arch_zoo[arch]
    dims = s['embed_dims']
    layout = [('patch_proj.0.weight', (dims[0], 3, 4, 4)), ('patch_proj.0.bias', (dims[0], )),
              ('patch_proj.1.norm.weight', (dims[0], )), ('patch_proj.1.norm.bias', (dims[0], ))]
    fmap = img_size // 4
    for i, c in enumerate(dims):
        p = f'stages.{i}.'
        heads, types = s['num_heads'][i], s['block_types'][i]
        for j in range(2 * len(types)):
            layout += [(f'{p}layer_norms.{j}.norm.weight', (c, )),
                       (f'{p}layer_norms.{j}.norm.bias', (c, ))]
        for j in range(len(types)):
            q = f'{p}mlps.{j}.chunk.'
            layout += [(q + 'linear1.weight', (4 * c, c)), (q + 'linear1.bias', (4 * c, )),
                       (q + 'linear2.weight', (c, 4 * c)), (q + 'linear2.bias', (c, ))]
        for j, kind in enumerate(types):
            q = f'{p}attns.{j}.'
            if kind in 'LS':
                layout += [(q + 'relative_position_bias_table', (169, heads)),
                           (q + 'relative_position_index', (49, 49)),
                           (q + 'proj_qkv.weight', (3 * c, c)), (q + 'proj_qkv.bias', (3 * c, )),
                           (q + 'proj_out.weight', (c, c)), (q + 'proj_out.bias', (c, ))]
                if kind == 'S':
                    layout.append((q + 'attn_mask', ((fmap // 7)**2, 49, 49)))
            else:
                gc, k = c // s['num_groups'][i], (9, 7, 5, 3)[i]
                layout += [(q + 'rpe_table', (heads, 2 * fmap - 1, 2 * fmap - 1)),
                           (q + 'conv_offset.0.weight', (gc, 1, k, k)),
                           (q + 'conv_offset.0.bias', (gc, )),
                           (q + 'conv_offset.1.norm.weight', (gc, )),
                           (q + 'conv_offset.1.norm.bias', (gc, )),
                           (q + 'conv_offset.3.weight', (2, gc, 1, 1))]
                for name in ('q', 'k', 'v', 'out'):
                    layout += [(f'{q}proj_{name}.weight', (c, c, 1, 1)),
                               (f'{q}proj_{name}.bias', (c, ))]
        fmap //= 2
    for i in range(3):
        layout += [(f'down_projs.{i}.0.weight', (dims[i + 1], dims[i], 2, 2)),
                   (f'down_projs.{i}.1.norm.weight', (dims[i + 1], )),
                   (f'down_projs.{i}.1.norm.bias', (dims[i + 1], ))]
    layout += [('cls_norm.norm.weight', (dims[-1], )), ('cls_norm.norm.bias', (dims[-1], )),
               ('cls_head.weight', (1000, dims[-1])), ('cls_head.bias', (1000, ))]
    return layout


def fake_official_state_dict(arch):
    gen = torch.Generator().manual_seed(1)
    state_dict = {}
    for key, shape in official_layout(arch):
        if key.endswith('relative_position_index'):
            state_dict[key] = torch.randint(0, 169, shape, generator=gen)
        else:
            state_dict[key] = torch.randn(shape, generator=gen)
    return state_dict


def load_converter_tool():
    path = osp.join(REPO, 'tools', 'model_converters', 'dat2mmdense.py')
    spec = importlib.util.spec_from_file_location('dat2mmdense', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base'])
def test_param_counts_match_official(arch):
    model = DAT(arch=arch, out_norm=False)
    assert num_params(model) + classifier_params(arch) == OFFICIAL_NUM_PARAMS[arch]
    with_norms = DAT(arch=arch, out_norm=True)
    assert num_params(with_norms) - num_params(model) == 2 * sum(DAT.arch_zoo[arch]['embed_dims'])
    # No input-size dependent tensor is saved: only parameters are in the state dict.
    assert len(model.state_dict()) == len(list(model.parameters()))


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base'])
def test_official_layout_matches_reference(arch):
    layout = official_layout(arch)
    assert len(layout) == OFFICIAL_NUM_STATE_DICT_ENTRIES[arch]
    assert sum(math.prod(s) for k, s in layout if 'relative_position_index' not in k
               and 'attn_mask' not in k) == OFFICIAL_NUM_PARAMS[arch]
    reference = load_reference(f'dat_{arch}')
    assert {k: tuple(s) for k, s in reference['state_dict']} == dict(layout)
    assert reference['num_params'] == OFFICIAL_NUM_PARAMS[arch]


def test_seeded_build_reproduces_official_outputs():
    torch.manual_seed(0)
    model = DAT(arch='tiny', out_norm=False)
    model.init_weights()
    model.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outs = model(x)
    shapes = [(2, 96, 56, 56), (2, 192, 28, 28), (2, 384, 14, 14), (2, 768, 7, 7)]
    for out, shape, (mean, mean_abs) in zip(outs, shapes, OFFICIAL_TINY_SEED0_STATS):
        assert out.shape == shape
        assert out.double().mean().item() == pytest.approx(mean, abs=1e-6)
        assert out.double().abs().mean().item() == pytest.approx(mean_abs, rel=1e-6)


@pytest.mark.parametrize('size', [(200, 152), (61, 93)])
def test_any_input_size(size):
    model = DAT(arch='tiny', out_indices=(0, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    h, w = size
    expected = [(1, 96, math.ceil(h / 4), math.ceil(w / 4)),
                (1, 384, math.ceil(h / 16), math.ceil(w / 16)),
                (1, 768, math.ceil(h / 32), math.ceil(w / 32))]
    assert [tuple(o.shape) for o in outs] == expected
    assert all(torch.isfinite(o).all() for o in outs)


def test_512_input_and_registry():
    model = MODELS.build(dict(type='DAT', arch='tiny')).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 512, 512))
    assert [o.shape[-1] for o in outs] == [128, 64, 32, 16]


def official_shift_mask(height, width, window, shift):
    """The official ShiftWindowAttention mask (dat_blocks.py), for a map of whole windows."""
    img_mask = torch.zeros(height, width)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    cnt = 0
    for hs in cuts:
        for ws in cuts:
            img_mask[hs, ws] = cnt
            cnt += 1
    windows = img_mask.view(height // window, window, width // window, window)
    windows = windows.permute(0, 2, 1, 3).reshape(-1, window * window)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


@pytest.mark.parametrize('size', [(56, 56), (28, 28), (14, 35)])
def test_shift_mask_equals_official_for_whole_windows(size):
    mask = shifted_window_mask(*size, window_size=7, shift_size=4)
    assert torch.equal(mask, official_shift_mask(*size, 7, 4))


def test_shift_mask_for_padded_size():
    h, w = 10, 12  # padded to 14 x 14
    mask = shifted_window_mask(h, w, window_size=7, shift_size=4)
    assert mask.shape == (4, 49, 49)
    padded = torch.zeros(14, 14, dtype=torch.bool)
    padded[h:] = True
    padded[:, w:] = True
    padded = torch.roll(padded, (-4, -4), (0, 1)).view(2, 7, 2, 7).transpose(1, 2).reshape(4, 49)
    # Real queries never see padded keys; inside the real tokens the official regions apply.
    real_to_pad = mask.masked_select(~padded.unsqueeze(2) & padded.unsqueeze(1))
    assert (real_to_pad == MASK_FILL).all()
    region = official_shift_mask(14, 14, 7, 4)
    real_pair = ~padded.unsqueeze(2) & ~padded.unsqueeze(1)
    assert torch.equal(mask[real_pair], region[real_pair])
    # Every row keeps at least one unmasked entry (its own token).
    assert (mask.diagonal(dim1=1, dim2=2) == 0).all()
    assert shifted_window_mask(14, 21, 7, 0) is None
    no_shift = shifted_window_mask(10, 7, 7, 0)
    assert no_shift.shape == (2, 49, 49) and (no_shift[0] == 0).all()


def reference_window_attention(attn, x, mask):
    """Explicit softmax(q k^T * scale + bias + mask) v over one window map (B, H, W, C)."""
    b, h, w, c = x.shape
    ws, heads = attn.window_size, attn.num_heads
    win = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
    q, k, v = attn.qkv(win).chunk(3, dim=-1)
    q, k, v = (t.view(t.shape[0], -1, heads, c // heads).transpose(1, 2) for t in (q, k, v))
    logits = (q * attn.scale) @ k.transpose(-1, -2)
    table = attn.relative_position_bias_table[attn.relative_position_index]
    logits = logits + table.permute(2, 0, 1)
    if mask is not None:
        logits = logits + mask.repeat(b, 1, 1).unsqueeze(1)
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(-1, ws * ws, c)
    out = attn.proj(out).view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return out.reshape(b, h, w, c)


@pytest.mark.parametrize('shift', [0, 4])
@pytest.mark.parametrize('size', [(14, 21), (10, 12)])
def test_window_attention_matches_explicit_computation(shift, size):
    torch.manual_seed(0)
    attn = DATWindowAttention(32, 4, window_size=7, shift_size=shift).eval()
    h, w = size
    x = torch.randn(2, h, w, 32)
    with torch.no_grad():
        out = attn(x)
        padded = F.pad(x, (0, 0, 0, (-w) % 7, 0, (-h) % 7))
        rolled = torch.roll(padded, (-shift, -shift), (1, 2))
        # On whole windows this is the official mask; with padding it also hides padded keys.
        mask = shifted_window_mask(h, w, 7, shift)
        expected = torch.roll(reference_window_attention(attn, rolled, mask), (shift, shift),
                              (1, 2))[:, :h, :w]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_deformable_attention_matches_explicit_computation():
    torch.manual_seed(0)
    attn = DATDeformableAttention(48, 6, 2, rpe_table_size=(13, 13), offset_kernel_size=3).eval()
    for p in attn.parameters():  # larger offsets than the default init, to exercise sampling
        p.data.normal_(0, 0.5)
    x = torch.randn(2, 7, 7, 48)
    with torch.no_grad():
        out = attn(x)
        # Official v1 algorithm, channels-first, written out step by step.
        b, h, w, c = x.shape
        g, gc, heads, hc = 2, 24, 6, 8
        xc = x.permute(0, 3, 1, 2)
        q = F.conv2d(xc, attn.proj_q.weight[..., None, None], attn.proj_q.bias)
        off = F.conv2d(q.reshape(b * g, gc, h, w), attn.offset_dwconv.weight,
                       attn.offset_dwconv.bias, padding=1, groups=gc)
        off = attn.offset_norm(off.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        off = F.conv2d(F.gelu(off), attn.offset_proj.weight[..., None, None])
        off = off.tanh() * torch.tensor([1 / h, 1 / w]).view(1, 2, 1, 1) * 2
        pos = off.permute(0, 2, 3, 1) + reference_points(h, w, x.dtype, x.device)
        sampled = F.grid_sample(xc.reshape(b * g, gc, h, w), pos[..., (1, 0)],
                                mode='bilinear', align_corners=True).reshape(b, c, 1, h * w)
        k = F.conv2d(sampled, attn.proj_k.weight[..., None, None], attn.proj_k.bias)
        v = F.conv2d(sampled, attn.proj_v.weight[..., None, None], attn.proj_v.bias)
        logits = torch.einsum('bcm,bcn->bmn', q.reshape(b * heads, hc, -1),
                              k.reshape(b * heads, hc, -1)) * hc**-0.5
        q_grid = reference_points(h, w, x.dtype, x.device).reshape(1, h * w, 1, 2)
        disp = (q_grid - pos.reshape(b * g, 1, h * w, 2)) * 0.5
        table = attn.rpe_table[None].expand(b, -1, -1, -1).reshape(b * g, heads // g, 13, 13)
        bias = F.grid_sample(table, disp[..., (1, 0)], mode='bilinear', align_corners=True)
        attn_w = (logits + bias.reshape(b * heads, h * w, h * w)).softmax(-1)
        o = torch.einsum('bmn,bcn->bcm', attn_w, v.reshape(b * heads, hc, -1))
        o = F.conv2d(o.reshape(b, c, h, w), attn.proj.weight[..., None, None], attn.proj.bias)
    # Random N(0, 0.5) weights give outputs of order 10: compare relative to that scale.
    scale = o.abs().max().item()
    torch.testing.assert_close(out, o.permute(0, 2, 3, 1), atol=2e-6 * scale, rtol=0)


def test_relative_position_index_is_regenerated():
    attn = DATWindowAttention(16, 2, window_size=7)
    index = attn.relative_position_index
    # Token 0 is (0, 0) and token 48 is (6, 6): offsets (-6, -6) -> 0 and (+6, +6) -> 168.
    assert index[0, 48] == 0 and index[48, 0] == 168 and (index.diagonal() == 84).all()


def test_converter_on_fake_official_checkpoint(tmp_path):
    official = fake_official_state_dict('tiny')
    src, dst = tmp_path / 'dat_tiny.pth', tmp_path / 'out' / 'dat_tiny_mmdense.pth'
    torch.save({'model': official, 'epoch': 299}, src)
    load_converter_tool().main([str(src), str(dst)])

    converted = torch.load(dst, map_location='cpu')['state_dict']
    model = DAT(arch='tiny', out_norm=False)
    # strict: every converted key is consumed and every parameter is filled.
    model.load_state_dict(converted, strict=True)
    dropped = [k for k in official if k.startswith('cls_') or k.endswith(
        ('relative_position_index', 'attn_mask'))]
    assert len(converted) == len(official) - len(dropped)
    assert not any('relative_position_index' in k or 'attn_mask' in k for k in converted)
    sd = model.state_dict()
    torch.testing.assert_close(sd['stages.2.blocks.1.attn.proj_q.weight'],
                               official['stages.2.attns.1.proj_q.weight'].flatten(1))
    torch.testing.assert_close(sd['stages.3.blocks.0.norm2.bias'],
                               official['stages.3.layer_norms.1.norm.bias'])
    torch.testing.assert_close(sd['stages.1.blocks.1.ffn.layers.1.weight'],
                               official['stages.1.mlps.1.chunk.linear2.weight'])
    torch.testing.assert_close(sd['downsamples.2.projection.weight'],
                               official['down_projs.2.0.weight'])
    # The same file through init_cfg, with the output norms left at identity.
    pretrained = DAT(arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    pretrained.init_weights()
    for key, value in converted.items():
        assert torch.equal(pretrained.state_dict()[key], value), key
    assert torch.equal(pretrained.norm3.weight, torch.ones(768))


def test_converter_accepts_bare_and_state_dict_layouts_and_rejects_unknown_keys(tmp_path):
    tool = load_converter_tool()
    official = fake_official_state_dict('tiny')
    expected = set(DAT(arch='tiny', out_norm=False).state_dict())
    for i, ckpt in enumerate(({'state_dict': official}, official)):
        torch.save(ckpt, tmp_path / f'{i}.pth')
        converted = tool.convert(str(tmp_path / f'{i}.pth'), str(tmp_path / f'{i}_out.pth'))
        assert set(converted) == expected
    with pytest.raises(ValueError, match='stages.0.lpu.weight'):
        convert_dat_state_dict({**official, 'stages.0.lpu.weight': torch.zeros(1)})
    torch.save({'optimizer': {}}, tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match='bad.pth'):
        tool.convert(str(tmp_path / 'bad.pth'), str(tmp_path / 'bad_out.pth'))


def test_with_cp_gives_same_outputs_and_grads():
    torch.manual_seed(0)
    model = DAT(arch='tiny', out_indices=(1, 3))
    model_cp = DAT(arch='tiny', out_indices=(1, 3), with_cp=True)
    model_cp.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 96)
    outs, outs_cp = model(x), model_cp(x)
    for a, b in zip(outs, outs_cp):
        torch.testing.assert_close(a, b)
    sum(o.sum() for o in outs).backward()
    sum(o.sum() for o in outs_cp).backward()
    for (name, p), p_cp in zip(model.named_parameters(), model_cp.parameters()):
        torch.testing.assert_close(p.grad, p_cp.grad, msg=name)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match='unknown arch'):
        DAT(arch='huge')
    with pytest.raises(ValueError, match='out_indices'):
        DAT(arch='tiny', out_indices=(4, ))
    bad = dict(DAT.arch_zoo['tiny'], block_types=('LS', 'LS', 'LDX', 'LD'))
    with pytest.raises(ValueError, match='block_types'):
        DAT(arch=bad)
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        DAT(arch='tiny')(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        DAT(arch='tiny')(torch.zeros(1, 4, 32, 32))


@pytest.mark.parametrize('name, arch, drop_path, lr', [
    ('upernet_dat-t_8xb2-160k_ade20k-512x512', 'tiny', 0.3, 6e-5),
    ('upernet_dat-s_8xb2-160k_ade20k-512x512', 'small', 0.5, 6e-5),
    ('upernet_dat-b_8xb2-160k_ade20k-512x512', 'base', 0.7, 6e-5),
    ('fpn_dat-t_8xb4-40k_ade20k-512x512', 'tiny', 0.4, 2e-4),
])
def test_configs(name, arch, drop_path, lr):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'dat', f'{name}.py'))
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch, backbone.drop_path_rate) == ('DAT', arch, drop_path)
    assert backbone.init_cfg.type == 'Pretrained'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.optimizer.lr == lr
    no_decay = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert all(no_decay[k].decay_mult == 0 for k in ('relative_position_bias_table', 'rpe_table',
                                                      'norm'))
    channels = list(DAT.arch_zoo[arch]['embed_dims'])
    neck_or_head = cfg.model.get('neck') or cfg.model.decode_head
    assert neck_or_head.in_channels == channels


def test_upernet_tiny_builds_with_paper_size():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'dat',
                                   'upernet_dat-t_8xb2-160k_ade20k-512x512.py'))
    with DefaultScope.overwrite_default_scope('mmdense'):
        model = MODELS.build(cfg.model)
    # DAT paper, Table 3: UperNet DAT-T has 60M parameters.
    assert num_params(model) == pytest.approx(60e6, rel=0.01)
