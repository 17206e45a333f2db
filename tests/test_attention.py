"""Tests of the shared dot-product attention (explicit products vs PyTorch's fused kernel)."""
import pytest
import torch
import torch.nn.functional as F

from mmdense.models.utils import attention
from mmdense.models.utils.attention import CPU_EXPLICIT_MAX_KEYS, dot_product_attention


def _reference(q, k, v, bias, scale):
    logits = (q.double() @ k.double().transpose(-2, -1)) * scale
    if bias is not None:
        logits = logits + bias.double()
    return logits.softmax(-1) @ v.double()


@pytest.fixture
def count_fused(monkeypatch):
    calls = []
    fused = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(args[1].shape[-2])
        return fused(*args, **kwargs)

    monkeypatch.setattr(attention.F, 'scaled_dot_product_attention', spy)
    return calls


@pytest.mark.parametrize('keys', [49, CPU_EXPLICIT_MAX_KEYS + 1, 196])
@pytest.mark.parametrize('with_bias', [False, True])
def test_equals_softmax_attention_and_dispatches_by_key_count(keys, with_bias, count_fused):
    torch.manual_seed(0)
    q = torch.randn(3, 2, 10, 8)
    k = torch.randn(3, 2, keys, 8)
    v = torch.randn(3, 2, keys, 5)
    # A broadcast (stride-0) bias, as the window layers pass it.
    bias = torch.randn(1, 2, 10, keys).expand(3, -1, -1, -1) if with_bias else None
    with torch.no_grad():
        out = dot_product_attention(q, k, v, bias, scale=0.3)
    assert out.shape == (3, 2, 10, 5)
    torch.testing.assert_close(out.double(), _reference(q, k, v, bias, 0.3), rtol=1e-5, atol=1e-5)
    assert count_fused == ([] if keys <= CPU_EXPLICIT_MAX_KEYS else [keys])


def test_default_scale_is_inverse_sqrt_head_dim():
    torch.manual_seed(1)
    q, k, v = torch.randn(3, 2, 7, 16).unbind(0)
    torch.testing.assert_close(
        dot_product_attention(q, k, v).double(), _reference(q, k, v, None, 0.25), rtol=1e-5,
        atol=1e-5)


@pytest.mark.parametrize('keys', [49, 196])
def test_gradients_reach_the_bias(keys, count_fused):
    torch.manual_seed(2)
    q, k, v = (torch.randn(2, 3, keys, 4, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    bias = torch.randn(2, 3, keys, keys, dtype=torch.float64, requires_grad=True)
    out = dot_product_attention(q, k, v, bias, scale=0.5)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    grads = [t.grad.clone() for t in (q, k, v, bias)]
    for t in (q, k, v, bias):
        t.grad = None
    (_reference(q, k, v, bias, 0.5) * weights).sum().backward()
    for got, t in zip(grads, (q, k, v, bias)):
        torch.testing.assert_close(got, t.grad)
    # The fused CPU kernel gives no gradient to a bias, so a learnt bias always goes explicit.
    assert count_fused == []


def test_dropout_only_when_asked():
    torch.manual_seed(3)
    q, k, v = torch.randn(3, 1, 2, 20, 8).unbind(0)
    plain = dot_product_attention(q, k, v)
    torch.testing.assert_close(dot_product_attention(q, k, v, dropout_p=0.), plain)
    dropped = dot_product_attention(q, k, v, dropout_p=0.5)
    assert not torch.allclose(dropped, plain)
