"""Tests of the natten-free 2-D neighbourhood attention against a naive float64 loop."""
import pytest
import torch
import torch.nn.functional as F

from mmdense.models.backbones.dat_pp_neighborhood_attention import (
    NeighborhoodAttention2d,
    neighborhood_attention_2d,
    neighborhood_bias,
    window_starts,
)


def naive_neighborhood_attention(q, k, v, kernel_size, rpb=None, scale=1.):
    """Definition, one (batch, head, query, key) at a time: natten 0.14 semantics, dilation 1.

    The window of query (i, j) is the k x k block whose top-left corner is
    (clamp(i - k//2, 0, H - k), clamp(j - k//2, 0, W - k)); the bias of key (a, c) is
    rpb[head, a - i + k - 1, c - j + k - 1].
    """
    b_, n_, h, w, _ = q.shape
    half = kernel_size // 2
    out = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype)
    for b in range(b_):
        for n in range(n_):
            for i in range(h):
                r0 = min(max(i - half, 0), h - kernel_size)
                for j in range(w):
                    c0 = min(max(j - half, 0), w - kernel_size)
                    logits, values = [], []
                    for a in range(r0, r0 + kernel_size):
                        for c in range(c0, c0 + kernel_size):
                            logit = scale * (q[b, n, i, j] * k[b, n, a, c]).sum()
                            if rpb is not None:
                                logit = logit + rpb[n, a - i + kernel_size - 1,
                                                    c - j + kernel_size - 1]
                            logits.append(logit)
                            values.append(v[b, n, a, c])
                    weights = torch.stack(logits).softmax(0)
                    out[b, n, i, j] = (weights[:, None] * torch.stack(values)).sum(0)
    return out


def _inputs(shape, kernel_size, seed=0, dtype=torch.float64, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(*shape, generator=g, dtype=dtype) for _ in range(3))
    rpb = torch.randn(shape[1], 2 * kernel_size - 1, 2 * kernel_size - 1, generator=g,
                      dtype=dtype)
    return [t.requires_grad_(requires_grad) for t in (q, k, v, rpb)]


def test_window_starts_clamp_inside_the_map():
    # length 10, k 7: centred windows from position 3 to 6, clamped at both borders
    assert window_starts(10, 7).tolist() == [0, 0, 0, 0, 1, 2, 3, 3, 3, 3]
    assert window_starts(7, 7).tolist() == [0] * 7
    assert window_starts(5, 3).tolist() == [0, 0, 1, 2, 2]


def test_bias_index_is_key_minus_query_plus_kernel_minus_one():
    k = 3
    rpb = torch.arange(2 * 25, dtype=torch.float64).view(2, 5, 5)
    bias = neighborhood_bias(rpb, 4, 5)  # (heads, H, W, k*k)
    # query (0, 0): window rows/cols 0..2, offsets 0..2 -> table rows/cols 2..4
    assert bias[0, 0, 0].view(k, k).tolist() == rpb[0, 2:5, 2:5].tolist()
    # query (3, 4) (bottom-right): window rows 1..3, cols 2..4 -> offsets -2..0 -> 0..2
    assert bias[1, 3, 4].view(k, k).tolist() == rpb[1, 0:3, 0:3].tolist()
    # interior query (1, 2): centred window -> the whole 3x3 middle of the table
    assert bias[0, 1, 2].view(k, k).tolist() == rpb[0, 1:4, 1:4].tolist()


@pytest.mark.parametrize('shape,kernel_size', [
    ((1, 2, 7, 7, 4), 7),     # map exactly the kernel: one window for everybody
    ((1, 2, 9, 8, 4), 7),     # odd x even
    ((1, 1, 8, 11, 3), 5),    # even x odd
    ((1, 1, 10, 7, 3), 3),
])
@pytest.mark.parametrize('with_bias', [True, False])
def test_matches_naive_loop(shape, kernel_size, with_bias):
    q, k, v, rpb = _inputs(shape, kernel_size)
    rpb = rpb if with_bias else None
    out = neighborhood_attention_2d(q, k, v, kernel_size, rpb, scale=0.7)
    ref = naive_neighborhood_attention(q, k, v, kernel_size, rpb, scale=0.7)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_not_zero_padded_at_the_border():
    # A zero-padded (centred) window would put the corner query's keys outside the map;
    # clamped windows give the corner the same keys as query (3, 3).
    q, k, v, _ = _inputs((1, 1, 9, 9, 2), 7)
    out = neighborhood_attention_2d(q.new_ones(q.shape), k, v, 7)  # equal queries
    assert torch.allclose(out[0, 0, 0, 0], out[0, 0, 3, 3])
    assert not torch.allclose(out[0, 0, 0, 0], out[0, 0, 4, 4])


def test_gradients_match_naive_loop():
    shape, ks = (1, 1, 6, 7, 2), 5
    q, k, v, rpb = _inputs(shape, ks, seed=1, requires_grad=True)
    weight = torch.randn(*shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grads = torch.autograd.grad((neighborhood_attention_2d(q, k, v, ks, rpb) * weight).sum(),
                                (q, k, v, rpb))
    ref = torch.autograd.grad((naive_neighborhood_attention(q, k, v, ks, rpb) * weight).sum(),
                              (q, k, v, rpb))
    for got, want in zip(grads, ref):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert all(g.abs().sum() > 0 for g in grads)


def test_gradcheck():
    q, k, v, rpb = _inputs((1, 1, 4, 5, 2), 3, seed=3, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: neighborhood_attention_2d(*t[:3], 3, t[3]), (q, k, v, rpb))


def test_float32_close_to_float64():
    q, k, v, rpb = _inputs((2, 2, 10, 9, 8), 7, seed=4)
    out = neighborhood_attention_2d(*(t.float() for t in (q, k, v)), 7, rpb.float())
    torch.testing.assert_close(out.double(), neighborhood_attention_2d(q, k, v, 7, rpb),
                               rtol=1e-5, atol=1e-6)


def test_errors():
    q, k, v, rpb = _inputs((1, 2, 5, 9, 4), 7)
    with pytest.raises(ValueError, match='smaller than the kernel'):
        neighborhood_attention_2d(q, k, v, 7, rpb)
    q, k, v, rpb = _inputs((1, 2, 9, 9, 4), 7)
    with pytest.raises(ValueError, match='odd'):
        neighborhood_attention_2d(q, k, v, 6)
    with pytest.raises(ValueError, match='rpb must be'):
        neighborhood_attention_2d(q, k, v, 7, rpb[:1])
    with pytest.raises(ValueError, match='q and k must be'):
        neighborhood_attention_2d(q, k[..., :2], v, 7)


def _module_reference(module, x):
    """The official NeighborhoodAttention2D forward in float64, natten replaced by the loop."""
    b, h, w, c = x.shape
    ks, heads = module.kernel_size, module.num_heads
    pad_h, pad_w = max(0, ks - h), max(0, ks - w)
    xp = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    qkv = F.linear(xp, module.qkv.weight.double(), module.qkv.bias.double())
    qkv = qkv.view(b, h + pad_h, w + pad_w, 3, heads, c // heads).permute(3, 0, 4, 1, 2, 5)
    out = naive_neighborhood_attention(qkv[0] * module.scale, qkv[1], qkv[2], ks,
                                       module.rpb.double())
    out = out.permute(0, 2, 3, 1, 4).reshape(b, h + pad_h, w + pad_w, c)[:, :h, :w]
    return F.linear(out, module.proj.weight.double(), module.proj.bias.double())


@pytest.mark.parametrize('size', [(9, 8), (3, 5), (1, 1)])
def test_module_matches_official_semantics(size):
    # Sizes below the kernel are zero-padded before the qkv projection, as the official module.
    torch.manual_seed(0)
    module = NeighborhoodAttention2d(8, 2, kernel_size=7).double()
    x = torch.randn(1, *size, 8, dtype=torch.float64)
    out = module(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, _module_reference(module, x), rtol=1e-10, atol=1e-12)


def test_module_backward_and_init():
    torch.manual_seed(0)
    module = NeighborhoodAttention2d(16, 4, kernel_size=5)
    # torch's trunc_normal_ with a=-2, b=2 (absolute bounds, as the official code): std 0.02
    assert module.rpb.shape == (4, 9, 9) and 0.015 < module.rpb.std() < 0.025
    x = torch.randn(1, 6, 3, 16, requires_grad=True)
    module(x).square().sum().backward()
    assert x.grad.abs().sum() > 0 and module.rpb.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='odd'):
        NeighborhoodAttention2d(16, 4, kernel_size=4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_matches_cpu():
    q, k, v, rpb = _inputs((2, 4, 20, 17, 16), 7, seed=5, dtype=torch.float32,
                           requires_grad=True)
    out = neighborhood_attention_2d(q, k, v, 7, rpb)
    out.sum().backward()
    cuda = [t.detach().cuda().requires_grad_() for t in (q, k, v, rpb)]
    out_cuda = neighborhood_attention_2d(*cuda[:3], 7, cuda[3])
    out_cuda.sum().backward()
    torch.testing.assert_close(out_cuda.cpu(), out, rtol=1e-4, atol=1e-5)
    for t, tc in zip((q, k, v, rpb), cuda):
        torch.testing.assert_close(tc.grad.cpu(), t.grad, rtol=1e-4, atol=1e-4)
