"""2-D neighbourhood attention (Hassani et al., "Neighborhood Attention Transformer", CVPR 2023).

Every query attends to the ``k x k`` keys around it. Near the borders the window is not
zero-padded but shifted to stay inside the map: on an axis of length ``L`` the window of
position ``i`` starts at ``clamp(i - k // 2, 0, L - k)``. The optional relative position bias
table ``rpb`` of shape ``(heads, 2k - 1, 2k - 1)`` is read at ``key - query + (k - 1)`` per
axis. These are the semantics of ``natten`` (0.14, dilation 1), the compiled extension that the
official DAT++ code (LeapLabTHU/DAT-Segmentation ``mmseg/models/utils/nat.py``) calls through
``NATTEN2DQKRPBFunction`` / ``NATTEN2DAVFunction``; here they are plain PyTorch, so they run on
any device, in any dtype, with autograd.

Implementation: a loop over the ``k * k`` window offsets. For offset ``(a, b)`` one
``index_select`` per axis fetches, for every query at once, the key at that place of its
clamped window; the logits are a product and a sum over channels, the output a weighted sum
of the values fetched the same way. Chosen by measurement on CPU (PyTorch 2.14, one thread on
a shared 2-core machine, min of 3 runs after a warm-up; q, k, v float32 ``(B, heads, H, W, d)``
with B=1, d=32, k=7 and a bias table):

=========================  =================  =================  =================
implementation             2x128x128 (DAT++   4x64x64            8x32x32
                           -T stage 1 @512)   (stage 2)          (stage 3)
                           fwd / fwd+bwd ms   fwd / fwd+bwd ms   fwd / fwd+bwd ms
=========================  =================  =================  =================
offset loop (this one)     257 / 808          73 / 295           27-40 / 79-196
gather (B,h,H,W,49,d) +    793 / 2225         147 / 480          75-200 / 232-561
batched matmul
flex_attention, block      not run (1)        not run (1)        212 / no backward
mask + score_mod (eager)                                         on CPU (2)
=========================  =================  =================  =================

(1) without ``torch.compile`` flex_attention materialises the dense ``HW x HW`` scores
(2.1 GB per image at 128x128); (2) PyTorch 2.14 raises "FlexAttention does not support
backward on CPU". Ranges are repeated runs on the shared machine. The offset loop also needs
no ``k*k``-times copy of the keys in inference (the gather does). The ``natten`` package
(optional, never required) is not installable here: PyPI has only an sdist that needs a CUDA
build, and its current API is not the 0.14 one the official code calls.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdense.models.utils.attention import MultiHeadSettingsMixin


def window_starts(length: int, kernel_size: int,
                  device: torch.device | None = None) -> torch.Tensor:
    """First key index of the clamped window of every position on an axis.

    Args:
        length (int): Axis length, at least ``kernel_size``.
        kernel_size (int): Window size (odd).
        device (torch.device, optional): Where to build the result.

    Returns:
        Tensor: ``(length,)`` int64, ``clamp(i - kernel_size // 2, 0, length - kernel_size)``.
    """
    pos = torch.arange(length, device=device)
    return (pos - kernel_size // 2).clamp(0, length - kernel_size)


@functools.lru_cache(maxsize=64)
def _window_indices(length: int, kernel_size: int,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Key indices ``(length, k)`` of every window and their bias-table indices ``(length, k)``."""
    pos = torch.arange(length, device=device)
    keys = window_starts(length, kernel_size, device)[:, None] + torch.arange(
        kernel_size, device=device)
    return keys, keys - pos[:, None] + (kernel_size - 1)


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel_size: int,
           rpb: torch.Tensor | None) -> None:
    if q.dim() != 5 or k.shape != q.shape or v.shape[:-1] != q.shape[:-1]:
        raise ValueError('neighborhood_attention_2d: q and k must be (B, heads, H, W, d) of one '
                         f'shape and v (B, heads, H, W, d_v); got {tuple(q.shape)}, '
                         f'{tuple(k.shape)}, {tuple(v.shape)}.')
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f'neighborhood_attention_2d: kernel_size must be odd and positive, got '
                         f'{kernel_size}.')
    h, w = q.shape[2:4]
    if h < kernel_size or w < kernel_size:
        raise ValueError(f'neighborhood_attention_2d: the map ({h}x{w}) is smaller than the '
                         f'kernel ({kernel_size}); pad it first (NeighborhoodAttention2d does).')
    if rpb is not None and tuple(rpb.shape) != (q.shape[1], 2 * kernel_size - 1,
                                                2 * kernel_size - 1):
        raise ValueError(f'neighborhood_attention_2d: rpb must be (heads, 2k-1, 2k-1) = '
                         f'({q.shape[1]}, {2 * kernel_size - 1}, {2 * kernel_size - 1}), got '
                         f'{tuple(rpb.shape)}.')


def neighborhood_bias(rpb: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The relative position bias of every query and its window keys.

    Args:
        rpb (Tensor): ``(heads, 2k - 1, 2k - 1)``.
        height (int): Map height (at least k).
        width (int): Map width (at least k).

    Returns:
        Tensor: ``(heads, H, W, k * k)``, entry ``[n, i, j, a * k + b]`` =
        ``rpb[n, key_i(a) - i + k - 1, key_j(b) - j + k - 1]``.
    """
    k = (rpb.shape[-1] + 1) // 2
    _, bias_rows = _window_indices(height, k, rpb.device)
    _, bias_cols = _window_indices(width, k, rpb.device)
    size = rpb.shape[-1]
    flat = bias_rows[:, None, :, None] * size + bias_cols[None, :, None, :]  # (H, W, k, k)
    return rpb.flatten(1)[:, flat.flatten()].view(rpb.shape[0], height, width, k * k)


def neighborhood_attention_2d(q: torch.Tensor,
                              k: torch.Tensor,
                              v: torch.Tensor,
                              kernel_size: int,
                              rpb: torch.Tensor | None = None,
                              scale: float = 1.,
                              dropout_p: float = 0.) -> torch.Tensor:
    """``softmax(scale * q k^T + rpb) v`` over the clamped ``k x k`` window of every query.

    Args:
        q (Tensor): Queries ``(B, heads, H, W, d)``; ``H`` and ``W`` at least ``kernel_size``.
        k (Tensor): Keys, same shape as ``q``.
        v (Tensor): Values ``(B, heads, H, W, d_v)``.
        kernel_size (int): Window size (odd).
        rpb (Tensor, optional): Relative position bias ``(heads, 2k - 1, 2k - 1)``.
        scale (float): Multiplies ``q`` before the product (natten's callers scale ``q``
            themselves, hence the default 1). Defaults to 1.
        dropout_p (float): Dropout on the attention weights (pass 0 in eval mode).
            Defaults to 0.

    Returns:
        Tensor: ``(B, heads, H, W, d_v)``.

    Raises:
        ValueError: On mismatched shapes, an even kernel or a map smaller than the kernel.
    """
    _check(q, k, v, kernel_size, rpb)
    h, w = q.shape[2:4]
    if scale != 1:
        q = q * scale
    rows, _ = _window_indices(h, kernel_size, q.device)
    cols, _ = _window_indices(w, kernel_size, q.device)
    # Window offset (a, b) of every query is one gather of the whole key map: row a of each
    # query's window, then column b. Nothing of size k*k x the map is materialised at once.
    logits = []
    for a in range(kernel_size):
        k_rows = k.index_select(2, rows[:, a])
        for b in range(kernel_size):
            logits.append((q * k_rows.index_select(3, cols[:, b])).sum(-1))
    attn = torch.stack(logits, dim=-1)  # (B, heads, H, W, k*k)
    if rpb is not None:
        attn = attn + neighborhood_bias(rpb, h, w).to(attn.dtype)
    attn = attn.softmax(dim=-1)
    if dropout_p > 0:
        attn = F.dropout(attn, dropout_p, training=True)
    out = None
    for a in range(kernel_size):
        v_rows = v.index_select(2, rows[:, a])
        for b in range(kernel_size):
            term = attn[..., a * kernel_size + b, None] * v_rows.index_select(3, cols[:, b])
            out = term if out is None else out + term
    return out


class NeighborhoodAttention2d(MultiHeadSettingsMixin, BaseModule):
    """Multi-head 2-D neighbourhood attention with a relative position bias.

    The official DAT++ ``NeighborhoodAttention2D`` (LeapLabTHU/DAT-Segmentation
    ``mmseg/models/utils/nat.py``, dilation 1) on channels-last maps: ``qkv`` linear, ``q``
    scaled by ``head_dim ** -0.5``, :func:`neighborhood_attention_2d` with the bias table
    ``rpb`` (``(heads, 2k - 1, 2k - 1)``, truncated normal std 0.02), output linear ``proj``.
    A map smaller than the kernel is zero-padded at the bottom/right to the kernel size
    *before* the ``qkv`` projection and cropped afterwards, as the official module does, so the
    padded positions take part as keys (with the projection biases as keys and values).

    Args:
        embed_dims (int): Channels.
        num_heads (int): Attention heads.
        kernel_size (int): Window size (odd). Defaults to 7.
        attn_drop_rate (float): Dropout on the attention weights. Defaults to 0.
        proj_drop_rate (float): Dropout after the output projection. Defaults to 0.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 kernel_size: int = 7,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._init_heads(embed_dims, num_heads, attn_drop_rate)
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f'NeighborhoodAttention2d: kernel_size must be odd and > 1, got '
                             f'{kernel_size}.')
        self.kernel_size = kernel_size
        # Creation order (qkv, rpb, proj) and torch's truncated normal are the official ones,
        # so a seeded build draws the official initial weights.
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.rpb = nn.Parameter(torch.zeros(num_heads, 2 * kernel_size - 1, 2 * kernel_size - 1))
        nn.init.trunc_normal_(self.rpb, std=.02, mean=0., a=-2., b=2.)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'kernel_size={self.kernel_size}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the attention.

        Args:
            x (Tensor): ``(B, H, W, C)``, any ``H, W``.

        Returns:
            Tensor: ``(B, H, W, C)``.
        """
        b, h, w, c = x.shape
        ks = self.kernel_size
        # Traced (ONNX export), the sizes are graph values: pad by a clamped amount, even 0, so
        # that a --dynamic graph pads exactly the maps smaller than the kernel.
        traced = torch.jit.is_tracing()
        if traced:
            pad_h = torch.as_tensor(ks - h).clamp(min=0)
            pad_w = torch.as_tensor(ks - w).clamp(min=0)
        else:
            pad_h, pad_w = max(0, ks - h), max(0, ks - w)
        if traced or pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        hp, wp = h + pad_h, w + pad_w
        qkv = self.qkv(x).view(b, hp, wp, 3, self.num_heads, self.head_dims)
        q, k, v = qkv.permute(3, 0, 4, 1, 2, 5).unbind(0)  # each (B, heads, H, W, d)
        out = neighborhood_attention_2d(q * self.scale, k, v, ks, self.rpb,
                                        dropout_p=self.attn_drop_rate if self.training else 0.)
        out = out.permute(0, 2, 3, 1, 4).reshape(b, hp, wp, c)
        if traced:  # slices with traced bounds export wrongly; gathers do not
            out = out.index_select(1, torch.arange(h, device=out.device))
            out = out.index_select(2, torch.arange(w, device=out.device))
        elif pad_h or pad_w:
            out = out[:, :h, :w]
        return self.proj_drop(self.proj(out))


def neighborhood_attention_flops(batch: int, height: int, width: int, channels: int,
                                 kernel_size: int) -> int:
    """Multiply-adds of :class:`NeighborhoodAttention2d`'s attention products.

    ``q k^T`` and ``attn v`` over the ``k x k`` window of every query: ``2 * k^2 * C`` per
    query, on the map padded to at least the kernel size (the projections are linear layers,
    which FLOP counters see on their own).

    Args:
        batch (int): Batch size.
        height (int): Map height before padding.
        width (int): Map width before padding.
        channels (int): Channels (all heads).
        kernel_size (int): Window size.

    Returns:
        int: Multiply-adds.
    """
    return (batch * max(height, kernel_size) * max(width, kernel_size) * kernel_size**2 * 2 *
            channels)
