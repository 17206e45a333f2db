"""The pixel-blocked task-query attention computes the same function as one unblocked pass."""
import pytest
import torch

from mmdense.models.heads.demt.layers import TaskQuery


def _pair(chunk_size):
    torch.manual_seed(0)
    ref = TaskQuery(16, 4, chunk_size=10**9)
    blocked = TaskQuery(16, 4, chunk_size=chunk_size)
    blocked.load_state_dict(ref.state_dict())
    # Non-zero biases so that the folded value/output biases are exercised.
    for m in (ref, blocked):
        torch.manual_seed(1)
        for p in m.parameters():
            p.data.add_(0.1 * torch.randn_like(p))
    return ref, blocked


def _unfolded(tq, query, tokens):
    """Reference: nn.MultiheadAttention of each pixel's query over its T tokens."""
    out, _ = tq.attn(query[None], tokens.transpose(0, 1), tokens.transpose(0, 1))
    return query + tq.norm(tq.proj(out[0]))


@pytest.mark.parametrize('chunk_size', [1, 7, 50])
def test_blocked_task_query_equals_reference(chunk_size):
    ref, blocked = _pair(chunk_size)
    query = torch.randn(23, 16, requires_grad=True)
    tokens = torch.randn(23, 3, 16, requires_grad=True)
    out_ref = ref(query, tokens)
    out = blocked(query, tokens)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(_unfolded(ref, query, tokens), out_ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(blocked.eval()(query, tokens), out_ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(out)
    g_ref = torch.autograd.grad(out_ref, [query, tokens, *ref.parameters()], grad)
    g = torch.autograd.grad(out, [query, tokens, *blocked.parameters()], grad)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_bad_chunk_size():
    with pytest.raises(ValueError, match='chunk_size'):
        TaskQuery(16, 4, chunk_size=0)
