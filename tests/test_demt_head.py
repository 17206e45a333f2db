"""DeMTHead: parameter counts, shapes, per-image semantics and the fast deformable sampling."""
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

from mmdense.models.heads import DeMTHead
from mmdense.models.heads.demt.deform import ChannelDeformConv2d, channelwise_deform_sample
from mmdense.models.heads.demt.demt_checkpoint import convert_demt_head

NYUD = (['semseg', 'depth', 'normals', 'edge'], dict(semseg=40, depth=1, normals=3, edge=1))
PASCAL = (['semseg', 'human_parts', 'sal', 'normals', 'edge'],
          dict(semseg=21, human_parts=7, sal=2, normals=3, edge=1))
HRNET18 = [18, 36, 72, 144]
SWIN_T = [96, 192, 384, 768]


# ------------------------------------------------------------------------------------ helpers
def official_head_layout(in_channels, tasks, task_channels, dim=256):
    """[(key, shape)] of the official DemtHead state dict, in its order."""
    cin, layout = sum(in_channels), []
    cb = cin // 8

    def bn(prefix, c):
        return [(f'{prefix}.{n}', (c, )) for n in ('weight', 'bias', 'running_mean',
                                                    'running_var')] + \
            [(f'{prefix}.num_batches_tracked', ())]

    def mha(prefix):
        return [(f'{prefix}.in_proj_weight', (3 * dim, dim)),
                (f'{prefix}.in_proj_bias', (3 * dim, )),
                (f'{prefix}.out_proj.weight', (dim, dim)), (f'{prefix}.out_proj.bias', (dim, ))]

    def lin_ln(prefix):
        return [(f'{prefix}.0.weight', (dim, dim)), (f'{prefix}.0.bias', (dim, )),
                (f'{prefix}.1.weight', (dim, )), (f'{prefix}.1.bias', (dim, ))]

    for t in tasks:
        layout += [(f'bottleneck.{t}.conv.weight', (cb, dim, 3, 3))] + bn(f'bottleneck.{t}.bn', cb)
    for t in tasks:
        layout += [(f'final_logits.{t}.weight', (task_channels[t], cb, 1, 1)),
                   (f'final_logits.{t}.bias', (task_channels[t], ))]
    for i in range(len(tasks)):
        p = f'defor_mixers.{i}.blocks.0'
        layout += [(f'{p}.0.weight', (dim, dim, 1, 1)), (f'{p}.0.bias', (dim, ))]
        layout += bn(f'{p}.2', dim)
        layout += [(f'{p}.3.fn.0.weight', (dim, dim, 1, 1)), (f'{p}.3.fn.0.bias', (dim, )),
                   (f'{p}.3.fn.0.offset', (1, 2 * dim, 1, 1)),
                   (f'{p}.3.fn.0.get_offset.p_conv.weight', (18, dim, 3, 3)),
                   (f'{p}.3.fn.0.get_offset.p_conv.bias', (18, )),
                   (f'{p}.3.fn.0.get_offset.opt.weight', (2 * dim, 9, 3, 3)),
                   (f'{p}.3.fn.0.get_offset.opt.bias', (2 * dim, ))]
        layout += bn(f'{p}.3.fn.2', dim)
    layout += [('linear1.0.weight', (dim, cin)), ('linear1.0.bias', (dim, )),
               ('linear1.1.weight', (dim, )), ('linear1.1.bias', (dim, ))]
    layout += mha('task_fusion') + lin_ln('smlp')
    for i in range(len(tasks)):
        layout += lin_ln(f'smlp2.{i}')
    for i in range(len(tasks)):
        layout += mha(f'task_querys.{i}')
    return layout


def random_official_head(in_channels, tasks, task_channels, dim, dtype=torch.float64, seed=0):
    """Official-layout weights with random values (BN stats positive variances)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in official_head_layout(in_channels, tasks, task_channels, dim):
        if key.endswith('num_batches_tracked'):
            sd[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            sd[key] = 0.5 + torch.rand(shape, generator=g, dtype=dtype)
        elif key.endswith('p_conv.weight'):
            sd[key] = 0.02 * torch.randn(shape, generator=g, dtype=dtype)
        else:
            sd[key] = 0.3 * torch.randn(shape, generator=g, dtype=dtype)
    return sd


def reference_forward(sd, feats, tasks, num_heads, out_size):
    """The official DemtHead forward for ONE image, written out step by step.

    Follows the documented official semantics: upsample + concat + Linear/LN; per task
    conv1x1-GELU-BN then a residual [deformable 1x1 conv (torchvision, offsets
    opt(p_0 + p_n + p_conv(x)) with a 1-based p_0) - GELU - BN]; task fusion = MHA over the
    batch axis (a single key for B=1); task query = for every pixel, MHA of the task's token
    over the T fused tokens at that pixel; Linear+LN residual; ConvBNReLU; 1x1 logits; resize.
    """
    assert feats[0].shape[0] == 1

    def bn(x, p):
        return F.batch_norm(x, sd[f'{p}.running_mean'], sd[f'{p}.running_var'],
                            sd[f'{p}.weight'], sd[f'{p}.bias'], False, 0.0, 1e-5)

    def lin_ln(x, p):
        y = F.linear(x, sd[f'{p}.0.weight'], sd[f'{p}.0.bias'])
        return F.layer_norm(y, y.shape[-1:], sd[f'{p}.1.weight'], sd[f'{p}.1.bias'])

    def mha(q, k, v, p):
        dim = q.shape[-1]
        return F.multi_head_attention_forward(
            q, k, v, dim, num_heads, sd[f'{p}.in_proj_weight'], sd[f'{p}.in_proj_bias'],
            None, None, False, 0.0, sd[f'{p}.out_proj.weight'], sd[f'{p}.out_proj.bias'],
            training=False, need_weights=False)[0]

    size = feats[0].shape[2:]
    x = torch.cat([F.interpolate(f, size=size, mode='bilinear', align_corners=False)
                   for f in feats], dim=1)
    x = lin_ln(x.permute(0, 2, 3, 1), 'linear1').permute(0, 3, 1, 2)
    dim = x.shape[1]
    h, w = size
    outs = []
    for i in range(len(tasks)):
        p = f'defor_mixers.{i}.blocks.0'
        y = bn(F.gelu(F.conv2d(x, sd[f'{p}.0.weight'], sd[f'{p}.0.bias'])), f'{p}.2')
        q = f'{p}.3.fn.0'
        rel = F.conv2d(y, sd[f'{q}.get_offset.p_conv.weight'], sd[f'{q}.get_offset.p_conv.bias'],
                       padding=1)
        coords = torch.zeros_like(rel)
        for k in range(9):
            coords[:, k] = torch.arange(1, h + 1, dtype=y.dtype).view(h, 1) + (k // 3 - 1)
            coords[:, 9 + k] = torch.arange(1, w + 1, dtype=y.dtype).view(1, w) + (k % 3 - 1)
        offset = F.conv2d(coords + rel, sd[f'{q}.get_offset.opt.weight'],
                          sd[f'{q}.get_offset.opt.bias'], padding=1, groups=2)
        z = deform_conv2d(y, offset, sd[f'{q}.weight'], sd[f'{q}.bias'])
        y = y + bn(F.gelu(z), f'{p}.3.fn.2')
        outs.append(y.flatten(2).transpose(1, 2))  # (1, HW, C)
    # nn.MultiheadAttention(batch_first=False) on [1, T*HW, C]: sequence length 1.
    cat = torch.cat(outs, dim=1)
    fused = lin_ln(mha(cat, cat, cat, 'task_fusion'), 'smlp')[0]  # (T*HW, C)
    logits = {}
    for i, t in enumerate(tasks):
        rows = []
        for n in range(h * w):
            keys = fused[[j * h * w + n for j in range(len(tasks))]].unsqueeze(1)  # (T, 1, C)
            query = outs[i][0, n].view(1, 1, dim)
            rows.append(mha(query, keys, keys, f'task_querys.{i}')[0, 0])
        attn = torch.stack(rows).unsqueeze(0)  # (1, HW, C)
        y = outs[i] + lin_ln(attn, f'smlp2.{i}')
        y = y.transpose(1, 2).reshape(1, dim, h, w)
        y = F.relu(bn(F.conv2d(y, sd[f'bottleneck.{t}.conv.weight'], padding=1),
                      f'bottleneck.{t}.bn'))
        y = F.conv2d(y, sd[f'final_logits.{t}.weight'], sd[f'final_logits.{t}.bias'])
        logits[t] = F.interpolate(y, size=out_size, mode='bilinear', align_corners=False)
    return logits


def small_feats(batch, in_channels, size=(6, 7), dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    return [torch.randn(batch, c, -(-h // 2**i), -(-w // 2**i), generator=g, dtype=dtype)
            for i, c in enumerate(in_channels)]


# -------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize('in_channels,tasks,expected', [
    (HRNET18, NYUD, 2_887_498),
    (SWIN_T, NYUD, 4_549_561),
    (HRNET18, PASCAL, 3_508_776),
    (SWIN_T, PASCAL, 5_508_204),
])
def test_param_counts_match_official(in_channels, tasks, expected):
    head = DeMTHead(in_channels, tasks[0], tasks[1])
    assert sum(p.numel() for p in head.parameters()) == expected
    # The official state dict has one more (unused) `offset` buffer per task.
    official = official_head_layout(in_channels, *tasks)
    assert len(head.state_dict()) == len(official) - len(tasks[0])


def test_output_shapes_and_task_order():
    tasks, channels = PASCAL
    head = DeMTHead([4, 6, 8, 10], tasks, channels, channels=32).eval()
    feats = small_feats(2, [4, 6, 8, 10], size=(9, 11), dtype=torch.float32)
    out = head(feats)
    assert list(out) == tasks
    for t in tasks:
        assert out[t].shape == (2, channels[t], 9, 11)


def test_matches_reference_implementation_per_image():
    """Converted random official weights give the step-by-step official forward of each image."""
    tasks, channels = NYUD
    in_channels, dim = [4, 6, 8, 10], 32
    sd = random_official_head(in_channels, tasks, channels, dim)
    head = DeMTHead(in_channels, tasks, channels, channels=dim).double().eval()
    head.load_state_dict(convert_demt_head(sd, tasks, dim), strict=True)
    feats = small_feats(2, in_channels, size=(5, 6))
    with torch.no_grad():
        out = head(feats)
        for i in range(2):
            ref = reference_forward(sd, [f[i:i + 1] for f in feats], tasks, 4, (10, 12))
            for t in tasks:
                mine = F.interpolate(out[t][i:i + 1], size=(10, 12), mode='bilinear',
                                     align_corners=False)
                torch.testing.assert_close(mine, ref[t], rtol=1e-9, atol=1e-9)


def test_outputs_do_not_depend_on_the_batch():
    tasks, channels = NYUD
    head = DeMTHead([4, 6, 8, 10], tasks, channels, channels=32, num_mixer_layers=2)
    head = head.double().eval()
    feats = small_feats(3, [4, 6, 8, 10], size=(7, 8))
    with torch.no_grad():
        together = head(feats)
        for i in range(3):
            alone = head([f[i:i + 1] for f in feats])
            for t in tasks:
                torch.testing.assert_close(together[t][i:i + 1], alone[t], rtol=1e-10,
                                           atol=1e-10)


def test_sample_and_torchvision_deform_impls_agree_in_the_head():
    tasks, channels = NYUD
    fast = DeMTHead([4, 6], tasks, channels, channels=16).double()
    slow = DeMTHead([4, 6], tasks, channels, channels=16, deform_impl='torchvision').double()
    for m in fast.modules():
        if isinstance(m, ChannelDeformConv2d):
            torch.nn.init.normal_(m.offset_conv.weight, std=0.05)
    slow.load_state_dict(fast.state_dict())
    feats = small_feats(2, [4, 6], size=(6, 9))
    a, b = fast(feats), slow(feats)  # train mode: batch statistics
    for t in tasks:
        torch.testing.assert_close(a[t], b[t], rtol=1e-9, atol=1e-9)
    ga = torch.autograd.grad(sum(v.sum() for v in a.values()), list(fast.parameters()),
                             allow_unused=True)
    gb = torch.autograd.grad(sum(v.sum() for v in b.values()), list(slow.parameters()),
                             allow_unused=True)
    for x, y in zip(ga, gb):
        if x is not None or y is not None:
            torch.testing.assert_close(x, y, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize('shape', [(2, 5, 7, 9), (1, 4, 1, 6), (1, 3, 6, 1), (2, 6, 2, 2)])
def test_channelwise_sample_equals_deform_conv2d(shape):
    b, c, h, w = shape
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    # Offsets of several pixels: many samples fall partly or fully outside the map.
    offset = (3 * torch.randn(b, 2 * c, h, w, generator=g, dtype=torch.float64)).requires_grad_()
    eye = torch.eye(c, dtype=torch.float64).view(c, c, 1, 1)
    ref = deform_conv2d(x, offset, eye)
    out = channelwise_deform_sample(x, offset)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    grad = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    ref_grads = torch.autograd.grad(ref, (x, offset), grad)
    out_grads = torch.autograd.grad(out, (x, offset), grad)
    for r, o in zip(ref_grads, out_grads):
        torch.testing.assert_close(o, r, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('channels', [6, 5])  # odd channel counts take the generic path
def test_channel_deform_conv_impls_agree(channels):
    torch.manual_seed(0)
    conv = ChannelDeformConv2d(channels, 7).double()
    torch.nn.init.normal_(conv.offset_conv.weight, std=0.1)
    x = torch.randn(2, channels, 5, 8, dtype=torch.float64)
    fast = conv(x)
    conv.impl = 'torchvision'
    torch.testing.assert_close(fast, conv(x), rtol=1e-10, atol=1e-10)


def test_kernel_grid_is_one_based_3x3_grid():
    conv = ChannelDeformConv2d(2, 2)
    grid = conv.kernel_grid(2, 3, torch.zeros(1))
    assert grid.shape == (1, 18, 2, 3)
    # Kernel point 0 is (-1, -1) around pixel (row 1, col 1) in 1-based coordinates.
    assert grid[0, 0].tolist() == [[0, 0, 0], [1, 1, 1]]
    assert grid[0, 9].tolist() == [[0, 1, 2], [0, 1, 2]]
    # Kernel point 5 is (0, +1).
    assert grid[0, 5].tolist() == [[1, 1, 1], [2, 2, 2]]
    assert grid[0, 14].tolist() == [[2, 3, 4], [2, 3, 4]]


def test_official_initialisation():
    tasks, channels = NYUD
    head = DeMTHead(HRNET18, tasks, channels, channels=64)
    head.init_weights()
    assert 0.009 < head.conv_logits['semseg'].weight.std() < 0.011  # 40 x 33 samples
    for t in tasks:
        assert torch.all(head.conv_logits[t].bias == 0)
        assert torch.all(head.mixers[t].layers[0].spatial_conv.offset_conv.weight == 0)
        # PyTorch's default conv init (uniform, bound 1/sqrt(fan_in)), not mmcv's kaiming.
        bound = 1 / (64 * 9) ** 0.5  # fan_in of the 3x3 conv
        assert head.task_convs[t].conv.weight.abs().max() <= bound
    assert sum(p.numel() for p in head.parameters() if p.requires_grad) > 0


def test_backward_reaches_offsets_and_attention():
    tasks, channels = NYUD
    head = DeMTHead([4, 6], tasks, channels, channels=16)
    out = head(small_feats(2, [4, 6], size=(6, 6), dtype=torch.float32))
    sum(v.square().mean() for v in out.values()).backward()
    layer = head.mixers['depth'].layers[0]
    assert layer.spatial_conv.offset_conv.weight.grad.abs().sum() > 0
    assert layer.spatial_conv.offset_proj.weight.grad.abs().sum() > 0
    assert head.task_queries['edge'].attn.in_proj_weight.grad.abs().sum() > 0
    # Only the value projection of the single-key fusion attention takes part.
    grad = head.task_interaction.attn.in_proj_weight.grad
    assert grad[:32].abs().sum() == 0 and grad[32:].abs().sum() > 0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='task_channels'):
        DeMTHead([4], ['semseg', 'depth'], dict(semseg=3))
    with pytest.raises(ValueError, match='divisible'):
        DeMTHead([4], ['semseg'], dict(semseg=3), channels=30, num_heads=4)
    with pytest.raises(ValueError, match='in_index'):
        DeMTHead([4, 8], ['semseg'], dict(semseg=3), in_index=[0])
    head = DeMTHead([4, 8], ['semseg'], dict(semseg=3), channels=8)
    with pytest.raises(ValueError, match='channels'):
        head([torch.zeros(1, 5, 4, 4), torch.zeros(1, 8, 2, 2)])
