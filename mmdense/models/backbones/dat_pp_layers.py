"""Layers of DAT++ (Xia et al., "DAT++: Spatially Dynamic Vision Transformer with Deformable
Attention", 2023), as released in LeapLabTHU/DAT-Segmentation (``mmseg/models/backbones/dat.py``,
``mmseg/models/utils/dat_blocks.py``, ``nat.py``).

Like the DAT v1 layers (:mod:`.dat_layers`), every layer works on channels-last maps
``(B, H, W, C)``; the official 1x1 convolutions are :class:`torch.nn.Linear` here (same weights,
``(C_out, C_in, 1, 1)`` -> ``(C_out, C_in)``, see :mod:`.dat_pp_checkpoint`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks.drop import build_dropout
from mmengine.model import BaseModule

from mmdense.models.utils.attention import dot_product_attention

from .dat_layers import CheckpointedBlock, DeformableAttentionBase


def _normalised_coords(start: float, length: int, denominator: int, dtype: torch.dtype,
                       device: torch.device) -> torch.Tensor:
    """``((start + i) / denominator) * 2 - 1`` for ``i < length``, in the official op order.

    A zero denominator (a map of one row or column) gives ``inf`` or ``nan`` in the official
    code; the single coordinate is the map centre, 0, here instead.
    """
    if denominator == 0:
        return torch.zeros(length, dtype=dtype, device=device)
    coords = torch.linspace(start, start + length - 1, length, dtype=dtype, device=device)
    return coords.div_(denominator).mul_(2.0).sub_(1.0)


def datpp_reference_points(height: int, width: int, dtype: torch.dtype,
                           device: torch.device) -> torch.Tensor:
    """Key reference points of DAT++: ``((i + 0.5) / (H - 1)) * 2 - 1`` (not v1's ``/ H``).

    Returns:
        Tensor: ``(height, width, 2)``, ``(y, x)`` pairs.
    """
    ys = _normalised_coords(0.5, height, height - 1, dtype, device)
    xs = _normalised_coords(0.5, width, width - 1, dtype, device)
    return torch.stack(torch.meshgrid(ys, xs, indexing='ij'), -1)


def datpp_query_grid(height: int, width: int, dtype: torch.dtype,
                     device: torch.device) -> torch.Tensor:
    """Query positions of the DAT++ bias: ``(i / (H - 1)) * 2 - 1``, corners at -1 and 1.

    Returns:
        Tensor: ``(height, width, 2)``, ``(y, x)`` pairs.
    """
    ys = _normalised_coords(0., height, height - 1, dtype, device)
    xs = _normalised_coords(0., width, width - 1, dtype, device)
    return torch.stack(torch.meshgrid(ys, xs, indexing='ij'), -1)


class DATPPStem(BaseModule):
    """Overlapping convolutional stem: conv3x3 s2 (C/2) -> LN -> GELU -> conv3x3 s2 -> LN.

    Args:
        in_channels (int): Image channels.
        embed_dims (int): Output channels.
        norm_cfg (dict): Norm config. Defaults to ``dict(type='LN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = norm_cfg or dict(type='LN')
        self.conv1 = nn.Conv2d(in_channels, embed_dims // 2, 3, 2, 1)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims // 2)[1]
        self.act = build_activation_layer(act_cfg or dict(type='GELU'))
        self.conv2 = nn.Conv2d(embed_dims // 2, embed_dims, 3, 2, 1)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed an image ``(B, C, H, W)`` into ``(B, ceil(H / 4), ceil(W / 4), embed_dims)``."""
        x = self.act(self.norm1(self.conv1(x).permute(0, 2, 3, 1)))
        return self.norm2(self.conv2(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class DATPPDownsample(BaseModule):
    """Downsampling between stages: conv3x3 stride 2 (no bias) -> LN, channels-last in and out.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm config. Defaults to ``dict(type='LN')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 2, 1, bias=False)
        self.norm = build_norm_layer(norm_cfg or dict(type='LN'), out_channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C_in)`` -> ``(B, ceil(H / 2), ceil(W / 2), C_out)``."""
        return self.norm(self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class DATPPConvFFN(BaseModule):
    """FFN with a depthwise conv: ``fc1 -> (x + dwconv3x3(x)) -> GELU -> fc2``.

    The official ``TransformerMLPWithConv`` (1x1 convs there, linear layers here).

    Args:
        embed_dims (int): Channels.
        feedforward_channels (int): Hidden channels.
        drop_rate (float): Dropout after fc1 and after fc2. Defaults to 0.
        act_cfg (dict): Activation config. Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 feedforward_channels: int,
                 drop_rate: float = 0.,
                 act_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        # Creation order (fc1, fc2, dwconv) is the official one.
        self.fc1 = nn.Linear(embed_dims, feedforward_channels)
        self.act = build_activation_layer(act_cfg or dict(type='GELU'))
        self.fc2 = nn.Linear(feedforward_channels, embed_dims)
        self.dwconv = nn.Conv2d(feedforward_channels, feedforward_channels, 3, 1, 1,
                                groups=feedforward_channels)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` -> ``(B, H, W, C)``."""
        x = self.drop(self.fc1(x))
        x = x + self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.drop(self.fc2(self.act(x)))


class DATPPDeformableAttention(DeformableAttentionBase):
    """Deformable multi-head attention of DAT++ (the official ``DAttentionBaseline`` with
    ``use_pe=True``, ``dwc_pe=False``, ``fixed_pe=False``, ``log_cpb=False``, ``no_off=False``).

    What differs from DAT v1 (:class:`.dat_layers.DATDeformableAttention`):

    - the offset network's depthwise conv has stride ``stride`` (padding ``kernel // 2``, or 0
      when kernel equals stride), so keys are sampled on a coarser ``H_k x W_k`` grid;
    - reference points are ``((i + 0.5) / (H_k - 1)) * 2 - 1`` and the queries of the bias
      ``(i / (H - 1)) * 2 - 1``;
    - with ``offset_range_factor < 0`` (all DAT++ models) the offsets are not bounded and the
      positions are clamped to ``[-1, 1]``; with a factor >= 0 they are bounded by
      ``tanh(.) * factor / (H_k - 1)`` and not clamped.

    Args:
        embed_dims (int): Channels.
        num_heads (int): Attention heads.
        num_groups (int): Offset groups (``num_heads // num_groups`` heads each).
        rpe_table_size (tuple[int, int]): Bias table shape per head, ``(2H - 1, 2W - 1)`` of the
            stage's map at the pre-training size (111x111 for stage 1 at 224).
        offset_kernel_size (int): Kernel of the depthwise offset conv.
        stride (int): Stride of the depthwise offset conv (key grid subsampling).
        offset_range_factor (float): See above. Defaults to -1.
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
                 stride: int,
                 offset_range_factor: float = -1.,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._init_settings(embed_dims, num_heads, num_groups, offset_range_factor,
                            attn_drop_rate)
        self.stride = stride
        gc = self.group_dims
        padding = offset_kernel_size // 2 if offset_kernel_size != stride else 0
        self.offset_dwconv = nn.Conv2d(gc, gc, offset_kernel_size, stride, padding, groups=gc)
        self._init_layers(rpe_table_size, proj_drop_rate, norm_cfg, act_cfg)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'num_groups={self.num_groups}, stride={self.stride}, '
                f'offset_range_factor={self.offset_range_factor}')

    def sampling_positions(self, q: torch.Tensor) -> torch.Tensor:
        """Deformed key positions predicted from the queries.

        Args:
            q (Tensor): Projected queries ``(B, H, W, C)``.

        Returns:
            Tensor: ``(B * groups, H_k, W_k, 2)`` in ``[-1, 1]`` coordinates, ``(y, x)``.
        """
        b, h, w, _ = q.shape
        g, gc = self.num_groups, self.group_dims
        q_off = q.view(b, h, w, g, gc).permute(0, 3, 4, 1, 2).reshape(b * g, gc, h, w)
        offset = self.offset_dwconv(q_off).permute(0, 2, 3, 1)
        offset = self.offset_proj(self.offset_act(self.offset_norm(offset)))
        hk, wk = offset.shape[1:3]
        if self.offset_range_factor >= 0:
            offset_range = torch.tensor([1.0 / (hk - 1.0), 1.0 / (wk - 1.0)],
                                        device=q.device, dtype=offset.dtype)
            offset = offset.tanh().mul(offset_range).mul(self.offset_range_factor)
        pos = offset + datpp_reference_points(hk, wk, offset.dtype, q.device)
        return pos if self.offset_range_factor >= 0 else pos.clamp(-1., 1.)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the attention.

        Args:
            x (Tensor): ``(B, H, W, C)``, already normalised.

        Returns:
            Tensor: ``(B, H, W, C)``.
        """
        b, h, w, c = x.shape
        g, gc, heads, hd = self.num_groups, self.group_dims, self.num_heads, self.head_dims
        q = self.proj_q(x)
        pos = self.sampling_positions(q)  # (B*g, Hk, Wk, 2), (y, x)
        hk, wk = pos.shape[1:3]
        ns = hk * wk

        x_groups = x.view(b, h, w, g, gc).permute(0, 3, 4, 1, 2).reshape(b * g, gc, h, w)
        sampled = F.grid_sample(x_groups, pos.flip(-1).to(x.dtype), mode='bilinear',
                                align_corners=True)  # (B*g, gc, Hk, Wk)
        sampled = sampled.reshape(b, c, ns).transpose(1, 2)
        k = self.proj_k(sampled).view(b, ns, heads, hd).transpose(1, 2)
        v = self.proj_v(sampled).view(b, ns, heads, hd).transpose(1, 2)
        q = q.view(b, h * w, heads, hd).transpose(1, 2)

        # Bias of query i and key j: the table read at (q_i - pos_j) / 2.
        queries = datpp_query_grid(h, w, pos.dtype, x.device).view(1, h * w, 1, 2)
        displacement = (queries - pos.view(b * g, 1, ns, 2)).mul(0.5)
        bias = self._sample_bias(displacement.flip(-1).to(x.dtype), b, x.dtype)

        out = dot_product_attention(q, k, v, bias.view(b, heads, h * w, ns).to(q.dtype),
                                    self.scale, self.attn_drop_rate if self.training else 0.)
        out = out.transpose(1, 2).reshape(b, h, w, c)
        return self.proj_drop(self.proj(out))


class DATPPBlock(CheckpointedBlock):
    """DAT++ block: ``x + LPU(x)``, then ``x + ls1 * attn(LN(x))``, then ``x + ls2 * FFN(LN(x))``.

    LPU is a depthwise 3x3 conv (the official ``local_perception_units``); the layer scales
    ``gamma1``/``gamma2`` exist only with ``layer_scale_init_value > 0`` (no released DAT++
    model uses them). The parts are passed in by :class:`DATPPStage`, which creates them in
    the official order.

    Args:
        embed_dims (int): Channels.
        lpu (nn.Module | None): Depthwise conv of the local perception unit, or None.
        norm1 (nn.Module): Norm before the attention.
        attn (nn.Module): ``NeighborhoodAttention2d`` (``dat_pp_neighborhood_attention.py``)
            or :class:`DATPPDeformableAttention`.
        norm2 (nn.Module): Norm before the FFN.
        ffn (nn.Module): :class:`DATPPConvFFN`.
        drop_path_rate (float): Stochastic depth of both branches. Defaults to 0.
        layer_scale_init_value (float): Initial layer scale; <= 0 for none. Defaults to -1.
        with_cp (bool): Recompute the block in the backward pass. Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 lpu: nn.Module | None,
                 norm1: nn.Module,
                 attn: nn.Module,
                 norm2: nn.Module,
                 ffn: nn.Module,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = -1.,
                 with_cp: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.lpu = lpu
        self.norm1 = norm1
        self.attn = attn
        self.norm2 = norm2
        self.ffn = ffn
        if layer_scale_init_value > 0:
            self.gamma1 = nn.Parameter(layer_scale_init_value * torch.ones(embed_dims))
            self.gamma2 = nn.Parameter(layer_scale_init_value * torch.ones(embed_dims))
        else:
            self.gamma1 = self.gamma2 = None
        self.drop_path = build_dropout(dict(type='DropPath', drop_prob=drop_path_rate))

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lpu is not None:
            x = x + self.lpu(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        y = self.attn(self.norm1(x))
        x = x + self.drop_path(y if self.gamma1 is None else y * self.gamma1)
        y = self.ffn(self.norm2(x))
        return x + self.drop_path(y if self.gamma2 is None else y * self.gamma2)
