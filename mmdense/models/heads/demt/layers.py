"""Building blocks of the DeMT head: deformable mixer, task interaction and task query.

Weights are laid out as in the official DeMT code (``tools/model_converters/demt2mmdense.py``
maps the names), but the two attention blocks compute the function of the official head applied
to **one image at a time**. The official code feeds ``[B, N, C]`` tensors to a
``batch_first=False`` ``nn.MultiheadAttention``, so the batch acts as the sequence and every
output depends on the other images of the batch. For a single image the two attentions reduce to:

* task interaction: attention over a single key, i.e. ``out_proj(v_proj(x))`` for every token;
* task query: every pixel of task ``t`` attends over the ``T`` task tokens at the same pixel.

Both are evaluated here with the projections folded (see the classes), which gives the same
values for any batch size.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from torch import Tensor

from .deform import ChannelDeformConv2d, conv1x1


class DeformableMixerLayer(nn.Module):
    """One layer of the deformable mixer: channel mixing then deformable spatial mixing.

    ``x = norm1(act(conv1x1(x)))``; ``x = x + norm2(act(deform(x)))`` where ``deform`` is a
    :class:`ChannelDeformConv2d`.

    Args:
        channels: feature channels.
        norm_cfg: config of the two norm layers (BN in DeMT).
        act_cfg: config of the activation (GELU in DeMT).
        deform_impl: implementation of the deformable conv, see :class:`ChannelDeformConv2d`.
    """

    def __init__(self, channels: int, norm_cfg: dict, act_cfg: dict,
                 deform_impl: str = 'sample') -> None:
        super().__init__()
        self.channel_conv = nn.Conv2d(channels, channels, 1)
        self.channel_norm = build_norm_layer(norm_cfg, channels)[1]
        self.spatial_conv = ChannelDeformConv2d(channels, channels, impl=deform_impl)
        self.spatial_norm = build_norm_layer(norm_cfg, channels)[1]
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = self.channel_norm(self.act(
            conv1x1(x, self.channel_conv.weight, self.channel_conv.bias)))
        return x + self.spatial_norm(self.act(self.spatial_conv(x)))


class DeformableMixer(nn.Module):
    """A stack of :class:`DeformableMixerLayer` (one per task in DeMT).

    Args:
        channels: feature channels.
        num_layers: number of layers (1 in every released DeMT model).
        norm_cfg: norm config.
        act_cfg: activation config.
        deform_impl: deformable conv implementation.
    """

    def __init__(self, channels: int, num_layers: int, norm_cfg: dict, act_cfg: dict,
                 deform_impl: str = 'sample') -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.layers = nn.Sequential(*[
            DeformableMixerLayer(channels, norm_cfg, act_cfg, deform_impl)
            for _ in range(num_layers)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def _split_in_proj(attn: nn.MultiheadAttention) -> tuple[Tensor, ...]:
    """``(W_q, W_k, W_v, b_q, b_k, b_v)`` of an ``nn.MultiheadAttention``."""
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    return w_q, w_k, w_v, b_q, b_k, b_v


class TaskInteraction(nn.Module):
    """DeMT's task-interaction block (``task_fusion`` + ``smlp`` in the official code).

    Per image, the official attention has a single key for every query, so its softmax is 1 and
    the block is ``LN(W_p (W_o (W_v x + b_v) + b_o) + b_p)``: three linear maps, folded here into
    one. The query/key projections take no part; they are kept for weight compatibility.

    Args:
        channels: token channels.
        num_heads: heads of the (weight-compatible) attention.
    """

    def __init__(self, channels: int, num_heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(channels, num_heads)
        self.proj = nn.Linear(channels, channels)
        self.norm = nn.LayerNorm(channels)

    def folded_linear(self) -> tuple[Tensor, Tensor]:
        """Weight and bias of ``proj(out_proj(v_proj(.)))``."""
        _, _, w_v, _, _, b_v = _split_in_proj(self.attn)
        w_o, b_o = self.attn.out_proj.weight, self.attn.out_proj.bias
        w_p, b_p = self.proj.weight, self.proj.bias
        weight = w_p @ (w_o @ w_v)
        bias = w_p @ (w_o @ b_v + b_o) + b_p
        return weight, bias

    def forward(self, x: Tensor) -> Tensor:
        """Map tokens ``(..., C)`` to fused tokens ``(..., C)``."""
        weight, bias = self.folded_linear()
        return self.norm(F.linear(x, weight, bias))


class TaskQuery(nn.Module):
    """DeMT's task-query block for one task (``task_querys[t]`` + ``smlp2[t]``).

    Every pixel's token of the task (the query) attends, with multi-head attention, over the
    ``T`` fused task tokens at the same pixel (keys and values); the result goes through
    ``Linear + LN`` and is added to the query.

    The key and value projections are folded into the query side, which is exact and saves
    ``2 (T - 1)`` projections per pixel: the logits ``q_h . (W_kh s_j + b_kh)`` equal
    ``(W_kh^T q_h) . s_j`` plus a term constant over ``j`` (dropped by the softmax), and
    ``sum_j a_hj (W_vh s_j + b_vh) = W_vh (sum_j a_hj s_j) + b_vh`` since the weights sum to 1.
    ``out_proj`` and the following Linear are folded into one matrix.

    Args:
        channels: token channels.
        num_heads: attention heads.
        chunk_size: pixels processed at a time. Default: 2048.
    """

    def __init__(self, channels: int, num_heads: int, chunk_size: int = 2048) -> None:
        super().__init__()
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
        self.num_heads = num_heads
        self.chunk_size = chunk_size
        self.attn = nn.MultiheadAttention(channels, num_heads)
        self.proj = nn.Linear(channels, channels)
        self.norm = nn.LayerNorm(channels)

    def forward(self, query: Tensor, tokens: Tensor) -> Tensor:
        """Update the task's tokens from the fused tokens of all tasks.

        Args:
            query: ``(N, C)`` tokens of this task (``N`` pixels, any leading shape flattened).
            tokens: ``(N, T, C)`` fused tokens of the ``T`` tasks at the same pixels.

        Returns:
            Tensor: ``(N, C)`` updated tokens.
        """
        n, c = query.shape
        heads = self.num_heads
        head_dim = c // heads
        w_q, w_k, w_v, b_q, _, b_v = _split_in_proj(self.attn)
        scale = head_dim ** -0.5
        w_q, b_q = w_q * scale, b_q * scale
        w_k = w_k.view(heads, head_dim, c)
        w_v = w_v.view(heads, head_dim, c).transpose(1, 2)
        w_out = self.proj.weight @ self.attn.out_proj.weight
        # The attention weights sum to 1, so the value bias passes through unchanged.
        b_out = w_out @ b_v + self.proj.weight @ self.attn.out_proj.bias + self.proj.bias
        # The (heads, pixels, C) intermediates are large; in blocks of pixels they stay in
        # cache, which makes the block about twice as fast on CPU.
        # split (not slicing) so that the backward concatenates the blocks' gradients once.
        # An ONNX graph takes one block: traced split sizes would fix the number of pixels.
        if n <= self.chunk_size or torch.onnx.is_in_onnx_export():
            blocks = [(query, tokens)]
        else:
            blocks = zip(query.split(self.chunk_size), tokens.split(self.chunk_size))
        outs = []
        for q_in, tok in blocks:
            m = q_in.shape[0]
            q = F.linear(q_in, w_q, b_q).view(m, heads, head_dim).transpose(0, 1)
            # Keys folded into the queries: per head, (m, C) vectors scored against the tokens.
            q = torch.bmm(q, w_k)
            weights = torch.einsum('hmc,mtc->mht', q, tok).softmax(dim=-1)
            # (m, heads, C): attention-weighted tokens
            mixed = torch.einsum('mht,mtc->hmc', weights, tok)
            values = torch.bmm(mixed, w_v).transpose(0, 1).reshape(m, c)
            outs.append(q_in + self.norm(F.linear(values, w_out, b_out)))
        return outs[0] if len(outs) == 1 else torch.cat(outs)
