"""Scaled dot-product attention that picks the faster of two equal computations per call, and
the multi-head settings shared by the attention layers."""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Up to this many keys, explicit products are faster than PyTorch's fused CPU kernel. Measured
# with PyTorch 2.14 on 2 AVX2 cores (tuned allocator), the HRFormer-S pose model (7x7 windows,
# 49 keys) timed with either path in alternation: 2 threads x1.01-1.07 inference and
# x1.02-1.10 train step for the explicit path, 1 thread x1.00-1.07 / x1.01-1.02. In isolation,
# 49 keys, 2 threads: 0.3-0.9 ms vs 0.5-1.6 ms without a bias, 0.3-2.8 ms vs 0.6-4.7 ms with
# one; from 196 keys on the fused kernel is as fast or faster (1.5 vs 1.6 ms at 196, 3.3 vs
# 4.3 ms at 576). Revisit when the fused CPU kernel gets a short-sequence path.
CPU_EXPLICIT_MAX_KEYS = 64


def dot_product_attention(q: torch.Tensor,
                          k: torch.Tensor,
                          v: torch.Tensor,
                          bias: torch.Tensor | None = None,
                          scale: float | None = None,
                          dropout_p: float = 0.) -> torch.Tensor:
    """``softmax(q k^T * scale + bias) v`` over the last two dims.

    Runs ``F.scaled_dot_product_attention`` except on CPU when the keys are few (windowed
    attention) or when the bias needs a gradient (the fused CPU kernel does not
    back-propagate into ``attn_mask``): there the same function is computed with explicit
    products, scaling ``q`` before the product as the official HRFormer and DAT code does.

    Args:
        q (Tensor): ``(..., N, d)``.
        k (Tensor): ``(..., M, d)``.
        v (Tensor): ``(..., M, d_v)``.
        bias (Tensor, optional): Additive logits broadcastable to ``(..., N, M)``.
        scale (float, optional): Logit scale. Defaults to ``d ** -0.5``.
        dropout_p (float): Dropout on the attention weights (pass 0 in eval mode).
            Defaults to 0.

    Returns:
        Tensor: ``(..., N, d_v)``.
    """
    if scale is None:
        scale = q.shape[-1]**-0.5
    explicit = q.device.type == 'cpu' and (
        k.shape[-2] <= CPU_EXPLICIT_MAX_KEYS
        or (bias is not None and bias.requires_grad and torch.is_grad_enabled()))
    if not explicit:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    attn = torch.matmul(q * scale, k.transpose(-2, -1))
    if bias is not None:
        attn = attn + bias
    attn = attn.softmax(dim=-1)
    if dropout_p > 0:
        attn = F.dropout(attn, dropout_p, training=True)
    return torch.matmul(attn, v)


class MultiHeadSettingsMixin:
    """Common multi-head settings of the window attentions (DAT's window attention, the
    neighbourhood attention): checks the head split and sets ``embed_dims``, ``num_heads``,
    ``head_dims``, ``scale`` (``head_dims ** -0.5``) and ``attn_drop_rate``."""

    def _init_heads(self, embed_dims: int, num_heads: int, attn_drop_rate: float) -> None:
        if embed_dims % num_heads != 0:
            raise ValueError(f'{type(self).__name__}: embed_dims={embed_dims} is not divisible '
                             f'by num_heads={num_heads}.')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = self.head_dims**-0.5
        self.attn_drop_rate = attn_drop_rate
