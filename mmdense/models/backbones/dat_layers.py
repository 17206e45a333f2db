"""Attention layers of DAT (Xia et al., "Vision Transformer with Deformable Attention", CVPR 2022).

Every layer works on channels-last feature maps ``(B, H, W, C)`` of any size: LayerNorm and the
linear projections then need no transposes, and only the offset network and the bilinear
sampling see channels-first tensors.

The numerics follow the official v1 code (LeapLabTHU/DAT @ 797f187f, ``models/dat_blocks.py``).
The official 1x1 convolutions are :class:`torch.nn.Linear` here. The weights are the same
(``(C, C, 1, 1)`` -> ``(C, C)``, see ``tools/model_converters/dat2mmdense.py``) and so is the
seeded initialisation (same fan-in, same number of values drawn).
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks.drop import build_dropout
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch.utils.checkpoint import checkpoint

from mmdense.models.utils.attention import MultiHeadSettingsMixin, dot_product_attention

# Logit offset the official shifted-window mask adds between tokens of different regions.
# The same value masks padded tokens, so no row of the softmax is ever fully masked.
MASK_FILL = -100.0


def reference_points(height: int, width: int, dtype: torch.dtype,
                     device: torch.device) -> torch.Tensor:
    """Pixel centres of an ``height x width`` grid in ``[-1, 1]``, as ``(y, x)`` pairs.

    The official v1 formula, ``((i + 0.5) / H) * 2 - 1``, evaluated in the same order of
    operations so that the values are bit-identical.

    Returns:
        Tensor: ``(height, width, 2)``.
    """
    # linspace(0.5, n - 0.5, n) is exactly arange(n) + 0.5 (unit step, small integers);
    # arange, and normalising per axis before the meshgrid (elementwise, so the same values)
    # rather than writing into slices in place, keep the ONNX trace in float32 and correct.
    ys = torch.arange(height, dtype=dtype, device=device) + 0.5
    xs = torch.arange(width, dtype=dtype, device=device) + 0.5
    ref_y, ref_x = torch.meshgrid(ys.div(height).mul(2).sub(1), xs.div(width).mul(2).sub(1),
                                  indexing='ij')
    return torch.stack((ref_y, ref_x), -1)


def shifted_window_mask(height: int, width: int, window_size: int, shift_size: int,
                        device: torch.device | None = None) -> torch.Tensor | None:
    """Additive attention mask of (shifted) window attention on a ``height x width`` map.

    The map is padded at the bottom and right to a multiple of ``window_size`` and, when
    ``shift_size > 0``, rolled by ``-shift_size`` before it is cut into windows. Two tokens of a
    window may attend to each other only if they come from the same region of the unrolled
    map: the official three-slice split per axis (so ``shift_size=4`` with 7x7 windows gives the
    official 224x224 mask exactly) and, on top, one region for all padded tokens, so that real
    tokens never attend to padding.

    Args:
        height (int): Unpadded height of the feature map.
        width (int): Unpadded width of the feature map.
        window_size (int): Window side.
        shift_size (int): Cyclic shift, 0 for plain windows.
        device (torch.device, optional): Where to build the mask.

    Returns:
        Tensor | None: ``(num_windows, window_size**2, window_size**2)`` with values 0 and
        ``MASK_FILL``, or None when no token has to be masked (no shift and no padding).
    """
    pad_h = (window_size - height % window_size) % window_size
    pad_w = (window_size - width % window_size) % window_size
    if shift_size == 0 and pad_h == 0 and pad_w == 0:
        return None
    hp, wp = height + pad_h, width + pad_w
    region = torch.zeros(hp, wp, device=device)
    if shift_size > 0:
        cuts = (slice(0, -window_size), slice(-window_size, -shift_size),
                slice(-shift_size, None))
        label = 0
        for hs in cuts:
            for ws in cuts:
                region[hs, ws] = label
                label += 1
    padded = torch.zeros(hp, wp, dtype=torch.bool, device=device)
    padded[height:, :] = True
    padded[:, width:] = True
    if shift_size > 0:
        padded = torch.roll(padded, shifts=(-shift_size, -shift_size), dims=(0, 1))
    region[padded] = -1
    region = region.view(hp // window_size, window_size, wp // window_size, window_size)
    region = region.transpose(1, 2).reshape(-1, window_size * window_size)
    diff = region.unsqueeze(1) - region.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill_(diff != 0, MASK_FILL)


@functools.lru_cache(maxsize=32)
def _cached_window_layout(height: int, width: int, window_size: int, shift_size: int,
                          device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token orders between a ``height x width`` map and its (shifted) windows.

    Returns:
        tuple[Tensor, Tensor]: ``gather`` lists, window by window, the map index of every
        window token after the map is rolled by ``-shift_size`` (``torch.roll`` semantics);
        ``scatter`` is its inverse permutation.
    """
    nh, nw = height // window_size, width // window_size
    rows = torch.arange(height, device=device).view(nh, 1, window_size, 1)
    cols = torch.arange(width, device=device).view(1, nw, 1, window_size)
    gather = ((rows + shift_size) % height * width + (cols + shift_size) % width).flatten()
    scatter = torch.empty_like(gather)
    scatter[gather] = torch.arange(gather.numel(), device=device)
    return gather, scatter


@functools.lru_cache(maxsize=32)
def _cached_window_mask(height: int, width: int, window_size: int, shift_size: int,
                        device: torch.device) -> torch.Tensor | None:
    """:func:`shifted_window_mask`, memoised per size (inputs of one size repeat in a run)."""
    return shifted_window_mask(height, width, window_size, shift_size, device)


class DATPatchEmbed(BaseModule):
    """Non-overlapping patch embedding / downsampling: ``k x k`` conv with stride ``k`` + norm.

    DAT's stem (4x4, stride 4) and its downsampling layers (2x2, stride 2, no bias). The input
    is zero-padded at the bottom/right to a multiple of ``k``. The conv weight is stored as an
    ``nn.Conv2d`` (the official layout) but applied as one matrix product over the patches,
    which on CPU is faster than the convolution, notably in the backward pass.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Output channels.
        patch_size (int): Kernel size and stride.
        bias (bool): Conv bias. Defaults to True.
        norm_cfg (dict): Norm after the projection. Defaults to ``dict(type='LN')``.
        channels_last_input (bool): Inputs are ``(B, H, W, C)`` rather than ``(B, C, H, W)``.
            Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 patch_size: int,
                 bias: bool = True,
                 norm_cfg: dict | None = None,
                 channels_last_input: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size = patch_size
        self.channels_last_input = channels_last_input
        self.projection = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size, bias=bias)
        self.norm = build_norm_layer(norm_cfg or dict(type='LN'), embed_dims)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed the patches.

        Args:
            x (Tensor): ``(B, C, H, W)``, or ``(B, H, W, C)`` with ``channels_last_input``.

        Returns:
            Tensor: ``(B, ceil(H / k), ceil(W / k), embed_dims)``.
        """
        k = self.patch_size
        weight = self.projection.weight  # (C_out, C_in, k, k)
        if self.channels_last_input:
            b, h, w, c = x.shape
            pad_h, pad_w = (k - h % k) % k, (k - w % k) % k
            if pad_h or pad_w:
                x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
            hk, wk = (h + pad_h) // k, (w + pad_w) // k
            # (B, H/k, W/k, k, k, C_in): channels stay contiguous; the weight follows.
            patches = x.reshape(b, hk, k, wk, k, c).transpose(2, 3)
            weight = weight.permute(0, 2, 3, 1)
        else:
            b, c, h, w = x.shape
            pad_h, pad_w = (k - h % k) % k, (k - w % k) % k
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h))
            hk, wk = (h + pad_h) // k, (w + pad_w) // k
            # (B, H/k, W/k, C_in, k, k), the order of the conv weight.
            patches = x.reshape(b, c, hk, k, wk, k).permute(0, 2, 4, 1, 3, 5)
        out = F.linear(patches.reshape(b, hk, wk, c * k * k), weight.reshape(weight.shape[0], -1),
                       self.projection.bias)
        return self.norm(out)


class DATWindowAttention(MultiHeadSettingsMixin, BaseModule):
    """Window multi-head self-attention with a relative position bias (DAT 'L' and 'S').

    ``shift_size=0`` is the official ``LocalAttention``, ``shift_size > 0`` the
    ``ShiftWindowAttention`` (DAT uses ``ceil(window_size / 2) = 4``, not Swin's 3). Unlike the
    official layer, the mask is built for the actual input size and the map is padded to whole
    windows, so any input size works. All windows and heads go through one attention call
    with the bias (and mask) as additive logits
    (see :func:`~mmdense.models.utils.attention.dot_product_attention`).

    Args:
        embed_dims (int): Channels.
        num_heads (int): Attention heads.
        window_size (int): Window side. Defaults to 7.
        shift_size (int): Cyclic shift of the windows. Defaults to 0.
        attn_drop_rate (float): Dropout on the attention weights. Defaults to 0.
        proj_drop_rate (float): Dropout after the output projection. Defaults to 0.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 shift_size: int = 0,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._init_heads(embed_dims, num_heads, attn_drop_rate)
        if not 0 <= shift_size < window_size:
            raise ValueError(f'DATWindowAttention: shift_size={shift_size} must lie in '
                             f'[0, window_size={window_size}).')
        self.window_size = window_size
        self.shift_size = shift_size

        # Creation order (qkv, proj, then the table) is the official one, so a seeded build
        # draws the same initial weights.
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1)**2, num_heads))
        trunc_normal_(self.relative_position_bias_table, std=0.01)

        coords = torch.stack(
            torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing='ij'))
        coords = coords.flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window_size - 1)
        index = rel[..., 0] * (2 * window_size - 1) + rel[..., 1]
        # Derived from window_size alone, so it is not saved in checkpoints.
        self.register_buffer('relative_position_index', index, persistent=False)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'window_size={self.window_size}, shift_size={self.shift_size}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the attention.

        Args:
            x (Tensor): ``(B, H, W, C)``, already normalised.

        Returns:
            Tensor: ``(B, H, W, C)``.
        """
        b, h, w, c = x.shape
        ws, shift, heads = self.window_size, self.shift_size, self.num_heads
        pad_h, pad_w = (ws - h % ws) % ws, (ws - w % ws) % ws
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        hp, wp = h + pad_h, w + pad_w
        n = ws * ws
        num_windows = b * (hp // ws) * (wp // ws)
        # One gather does the cyclic shift and the window partition.
        gather, scatter = _cached_window_layout(hp, wp, ws, shift, x.device)
        windows = x.reshape(b, hp * wp, c).index_select(1, gather).view(num_windows, n, c)

        qkv = self.qkv(windows).view(num_windows, n, 3, heads, self.head_dims)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B*nW, heads, N, hd)
        bias = self.relative_position_bias_table[self.relative_position_index]
        bias = bias.permute(2, 0, 1).unsqueeze(0).to(q.dtype)  # (1, heads, N, N)
        mask = _cached_window_mask(h, w, ws, shift, x.device)
        # CPU's fused kernel needs a mask with the full batch shape; a stride-0 expand is free.
        if mask is None:
            attn_mask = bias.expand(num_windows, -1, -1, -1)
        else:
            attn_mask = (bias + mask.to(q.dtype).unsqueeze(1)).repeat(b, 1, 1, 1)
        out = dot_product_attention(q, k, v, attn_mask, self.scale,
                                    self.attn_drop_rate if self.training else 0.)

        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, hp * wp, c)))
        out = out.index_select(1, scatter).view(b, hp, wp, c)
        if pad_h or pad_w:
            out = out[:, :h, :w].contiguous()
        return out


class CheckpointedBlock(BaseModule):
    """A block whose ``forward`` runs ``_inner_forward``, recomputed in the backward pass when
    ``self.with_cp`` is set (the DAT and DAT++ blocks)."""

    with_cp = False

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x (Tensor): ``(B, H, W, C)``.

        Returns:
            Tensor: ``(B, H, W, C)``.
        """
        if self.with_cp and x.requires_grad:
            return checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


class DeformableAttentionBase(BaseModule):
    """Parts that the DAT v1 and DAT++ deformable attentions share: the argument check, the
    offset network after its depthwise conv, the projections, the bias table and its sampling.

    A subclass calls :meth:`_init_settings`, creates ``offset_dwconv`` (its stride and padding
    differ between the versions), then calls :meth:`_init_layers`; this keeps the official
    creation order (offset net, q, k, v, out, table), so seeded builds draw the official
    initial weights.
    """

    def _init_settings(self, embed_dims: int, num_heads: int, num_groups: int,
                       offset_range_factor: float, attn_drop_rate: float) -> None:
        if embed_dims % num_heads != 0 or num_heads % num_groups != 0:
            raise ValueError(
                f'{type(self).__name__}: need embed_dims ({embed_dims}) divisible by num_heads '
                f'({num_heads}) and num_heads divisible by num_groups ({num_groups}).')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_groups = num_groups
        self.head_dims = embed_dims // num_heads
        self.group_dims = embed_dims // num_groups
        self.scale = self.head_dims**-0.5
        self.offset_range_factor = offset_range_factor
        self.attn_drop_rate = attn_drop_rate

    def _init_layers(self, rpe_table_size: tuple[int, int], proj_drop_rate: float,
                     norm_cfg: dict | None, act_cfg: dict | None) -> None:
        gc, embed_dims = self.group_dims, self.embed_dims
        self.offset_norm = build_norm_layer(norm_cfg or dict(type='LN'), gc)[1]
        self.offset_act = build_activation_layer(act_cfg or dict(type='GELU'))
        self.offset_proj = nn.Linear(gc, 2, bias=False)
        self.proj_q = nn.Linear(embed_dims, embed_dims)
        self.proj_k = nn.Linear(embed_dims, embed_dims)
        self.proj_v = nn.Linear(embed_dims, embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)
        self.rpe_table = nn.Parameter(torch.zeros(self.num_heads, *rpe_table_size))
        trunc_normal_(self.rpe_table, std=0.01)

    def _sample_bias(self, grid: torch.Tensor, batch: int, dtype: torch.dtype) -> torch.Tensor:
        """Read every group's heads of ``rpe_table`` bilinearly at ``grid``.

        Args:
            grid (Tensor): ``(B * groups, N_q, N_k, 2)`` in ``[-1, 1]`` coordinates, ``(x, y)``.
            batch (int): ``B``.
            dtype (torch.dtype): Dtype of the table read (the input's).

        Returns:
            Tensor: ``(B * groups, heads / groups, N_q, N_k)``.
        """
        g, heads = self.num_groups, self.num_heads
        table_size = self.rpe_table.shape[1:]
        table = self.rpe_table.to(dtype).view(1, g, heads // g, *table_size)
        table = table.expand(batch, -1, -1, -1, -1).reshape(batch * g, heads // g, *table_size)
        return F.grid_sample(table, grid, mode='bilinear', align_corners=True)


class DATDeformableAttention(DeformableAttentionBase):
    """Deformable multi-head attention of DAT v1 (the official ``DAttentionBaseline``).

    Per group of channels, an offset network (depthwise ``kernel_size`` conv -> LayerNorm ->
    GELU -> linear to 2 channels) predicts one offset per reference point. Offsets are bounded
    by ``tanh(.) * offset_range_factor / [H, W]`` and added to the reference points
    (``((i + 0.5) / H) * 2 - 1``, not clamped). Keys and values are projected from the input
    sampled bilinearly at these positions (``align_corners=True``, zero padding). The
    relative position bias of every (query, key) pair is sampled bilinearly from a learnt
    continuous table at half the query-to-key displacement, so the table of the pre-training
    size serves every input size.

    Args:
        embed_dims (int): Channels.
        num_heads (int): Attention heads.
        num_groups (int): Offset groups; each has its own sampling positions and
            ``num_heads // num_groups`` heads.
        rpe_table_size (tuple[int, int]): Shape of the bias table per head, ``(2H - 1, 2W - 1)``
            for the ``H x W`` feature map at the pre-training size (27x27 for stage 3 at 224).
        offset_kernel_size (int): Kernel of the depthwise offset conv.
        offset_range_factor (float): Offsets are bounded by ``factor / H`` (``factor / W``) in
            normalised coordinates, i.e. ``factor / 2`` key spacings. A negative value leaves
            them unbounded and squashes the positions with tanh, as the official code does.
        attn_drop_rate (float): Dropout on the attention weights. Defaults to 0.
        proj_drop_rate (float): Dropout after the output projection. Defaults to 0.
        norm_cfg (dict): Norm of the offset network. Defaults to ``dict(type='LN')``.
        act_cfg (dict): Activation of the offset network. Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 num_groups: int,
                 rpe_table_size: tuple[int, int],
                 offset_kernel_size: int,
                 offset_range_factor: float = 2.,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._init_settings(embed_dims, num_heads, num_groups, offset_range_factor,
                            attn_drop_rate)
        gc = self.group_dims
        self.offset_dwconv = nn.Conv2d(
            gc, gc, offset_kernel_size, 1, offset_kernel_size // 2, groups=gc)
        self._init_layers(rpe_table_size, proj_drop_rate, norm_cfg, act_cfg)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'num_groups={self.num_groups}, offset_range_factor={self.offset_range_factor}')

    def sampling_positions(self, q: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Deformed key positions predicted from the queries.

        Args:
            q (Tensor): Projected queries ``(B, H, W, C)``.
            reference (Tensor): Reference points ``(H, W, 2)``, see :func:`reference_points`.

        Returns:
            Tensor: ``(B * groups, H, W, 2)`` positions in ``[-1, 1]`` coordinates, ``(y, x)``.
        """
        b, h, w, _ = q.shape
        g, gc = self.num_groups, self.group_dims
        # Channels-last memory lets the depthwise conv read the groups without a transpose.
        q_off = q.view(b, h, w, g, gc).permute(0, 3, 1, 2, 4).reshape(b * g, h, w, gc)
        offset = self.offset_dwconv(q_off.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        offset = self.offset_proj(self.offset_act(self.offset_norm(offset)))
        if self.offset_range_factor > 0:
            offset_range = torch.tensor([1.0 / h, 1.0 / w], device=q.device, dtype=q.dtype)
            offset = offset.tanh().mul(offset_range).mul(self.offset_range_factor)
        pos = offset + reference
        # The official v1 code squashes unbounded positions with tanh (not clamp).
        return pos if self.offset_range_factor >= 0 else pos.tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the attention.

        Args:
            x (Tensor): ``(B, H, W, C)``, already normalised.

        Returns:
            Tensor: ``(B, H, W, C)``.
        """
        b, h, w, c = x.shape
        g, gc, heads, hd = self.num_groups, self.group_dims, self.num_heads, self.head_dims
        n = h * w
        reference = reference_points(h, w, x.dtype, x.device)
        q = self.proj_q(x)
        pos = self.sampling_positions(q, reference).flip(-1)  # grid_sample wants (x, y)

        x_groups = x.view(b, h, w, g, gc).permute(0, 3, 4, 1, 2).reshape(b * g, gc, h, w)
        pos = pos.to(x.dtype)  # under autocast the offsets come out of a low-precision linear
        sampled = F.grid_sample(x_groups, pos, mode='bilinear', padding_mode='zeros',
                                align_corners=True)  # (B*g, gc, H, W)
        sampled = sampled.view(b, c, n).transpose(1, 2).contiguous()
        k = self.proj_k(sampled).view(b, n, heads, hd).transpose(1, 2)
        v = self.proj_v(sampled).view(b, n, heads, hd).transpose(1, 2)
        q = q.view(b, n, heads, hd).transpose(1, 2)

        # The bias of query i and key j is the table read at (q_i - pos_j) / 2, with the
        # queries on the reference grid.
        # Repeating the n query points along the key axis keeps the broadcast contiguous.
        queries = reference.flip(-1).view(1, n, 1, 2).expand(1, n, n, 2).reshape(1, n, 2 * n)
        displacement = (queries - pos.view(b * g, 1, 2 * n)).mul_(0.5).view(b * g, n, n, 2)
        bias = self._sample_bias(displacement, b, x.dtype)

        out = dot_product_attention(q, k, v, bias.view(b, heads, n, n).to(q.dtype), self.scale,
                                    self.attn_drop_rate if self.training else 0.)
        out = out.transpose(1, 2).reshape(b, h, w, c)
        return self.proj_drop(self.proj(out))


class DATBlock(CheckpointedBlock):
    """Pre-norm transformer block of DAT: ``x + attn(LN(x))``, then ``x + FFN(LN(x))``.

    The attention and the FFN are built by :class:`DATStage` and passed in, because the
    official code creates all FFNs of a stage before all its attention layers; keeping that
    order is what lets a seeded build reproduce the official initial weights.

    Args:
        embed_dims (int): Channels.
        attn (nn.Module): A :class:`DATWindowAttention` or :class:`DATDeformableAttention`.
        ffn (nn.Module): An mmcv ``FFN`` with ``add_identity=True`` (its ``dropout_layer`` is the
            block's drop path).
        drop_path_rate (float): Stochastic depth of the attention branch. Defaults to 0.
        norm_cfg (dict): Norm config. Defaults to ``dict(type='LN')``.
        with_cp (bool): Recompute the block in the backward pass to save memory.
            Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 attn: nn.Module,
                 ffn: nn.Module,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict | None = None,
                 with_cp: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = norm_cfg or dict(type='LN')
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = attn
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = ffn
        self.drop_path = build_dropout(dict(type='DropPath', drop_prob=drop_path_rate))

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return self.ffn(self.norm2(x), identity=x)
