"""kMaX-DeepLab pixel decoder: axial-attention and bottleneck blocks from stride 32 to 4."""
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from timm.layers import trunc_normal_tf_

from mmdense.registry import MODELS

from .layers import (
    KMAX_NORM_CFG,
    ConvNormAct,
    LayerNorm2d,
    build_kmax_norm,
    kmax_align_corners,
    spatial_size,
)

# DeepLab2 keeps one embedding per relative distance in [-(MAX_SPAN - 1), MAX_SPAN - 1].
MAX_SPAN = 255


class RelativePositionalEncoding(nn.Module):
    """1-D relative position embeddings looked up for the actual axis length.

    The official module precomputes the distance table for the training image size, so it only
    runs on that size; here the (L, L) index is built (and cached) for each length seen.

    Args:
        depth: embedding size.
    """

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.embeddings = nn.Embedding(MAX_SPAN * 2 - 1, depth)
        trunc_normal_tf_(self.embeddings.weight, std=1.0)
        self._index_cache: dict[tuple[int, torch.device], torch.Tensor] = {}

    def _relative_index(self, length: int, device: torch.device) -> torch.Tensor:
        key = (length, device)
        if key not in self._index_cache:
            positions = torch.arange(length, device=device)
            self._index_cache[key] = positions[None, :] - positions[:, None] + MAX_SPAN - 1
        return self._index_cache[key]

    def forward(self, length: int) -> torch.Tensor:
        """Return the (length, length, depth) embeddings of key-minus-query distances."""
        if length > MAX_SPAN:
            raise ValueError(f'axial attention supports at most {MAX_SPAN} positions per axis '
                             f'(relative embeddings span +-{MAX_SPAN - 1}), got {length}; '
                             'use a smaller input or a larger output stride')
        index = self._relative_index(length, self.embeddings.weight.device)
        return self.embeddings.weight[index]


class AxialAttention(nn.Module):
    """Multi-head attention along one axis with query/key/value relative positions (DeepLab2).

    The three similarity terms (content, query-position, key-position) and the two retrieved
    terms (content, value-position) are each batch-normalised before being summed.

    Args:
        in_channels: input channels.
        key_channels: total query/key depth.
        value_channels: total value depth (= output channels).
        num_heads: attention heads.
        norm_cfg: norm config.
    """

    def __init__(self, in_channels: int, key_channels: int, value_channels: int,
                 num_heads: int = 8, norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        if key_channels % num_heads or value_channels % num_heads:
            raise ValueError(f'key ({key_channels}) and value ({value_channels}) channels must '
                             f'be divisible by num_heads ({num_heads})')
        self.key_channels = key_channels
        self.value_channels = value_channels
        self.num_heads = num_heads
        qkv_channels = key_channels * 2 + value_channels
        self.qkv_conv = nn.Conv1d(in_channels, qkv_channels, 1, bias=False)
        # The official ConvBN draws He-normal weights, then they are redrawn; both draws are
        # kept so that seeded models agree with the official ones.
        trunc_normal_tf_(self.qkv_conv.weight, std=(2.0 / in_channels)**0.5)
        trunc_normal_tf_(self.qkv_conv.weight, std=in_channels**-0.5)
        self.query_rpe = RelativePositionalEncoding(key_channels // num_heads)
        self.key_rpe = RelativePositionalEncoding(key_channels // num_heads)
        self.value_rpe = RelativePositionalEncoding(value_channels // num_heads)
        self.qkv_bn = build_kmax_norm(norm_cfg, qkv_channels, dim=1)
        self.similarity_bn = build_kmax_norm(norm_cfg, num_heads * 3, dim=2)
        self.retrieved_bn = build_kmax_norm(norm_cfg, value_channels * 2, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend along the last axis of ``x`` (N, C, L); returns (N, value_channels, L)."""
        n, _, length = x.shape
        heads = self.num_heads
        qkv = self.qkv_bn(self.qkv_conv(x))
        q, k, v = torch.split(qkv, [self.key_channels, self.key_channels, self.value_channels],
                              dim=1)
        q = q.reshape(n, heads, -1, length)
        k = k.reshape(n, heads, -1, length)
        v = v.reshape(n, heads, -1, length)

        query_rpe = self.query_rpe(length)
        key_rpe = self.key_rpe(length)
        similarity = torch.cat([
            torch.einsum('bhdl,bhdm->bhlm', q, k),
            torch.einsum('bhdl,lmd->bhlm', q, query_rpe),
            torch.einsum('bhdm,lmd->bhlm', k, key_rpe),
        ], dim=1)
        similarity = self.similarity_bn(similarity).reshape(n, 3, heads, length, length).sum(1)
        with torch.autocast(device_type=x.device.type, enabled=False):
            weights = F.softmax(similarity.float(), dim=-1)

        value_rpe = self.value_rpe(length)
        retrieved = torch.cat([
            torch.einsum('bhlm,bhdm->bhdl', weights, v.to(weights.dtype)),
            torch.einsum('bhlm,lmd->bhdl', weights, value_rpe.to(weights.dtype)),
        ], dim=1).reshape(n, 2 * self.value_channels, length)
        retrieved = self.retrieved_bn(retrieved)
        return retrieved.reshape(n, 2, self.value_channels, length).sum(1)


class AxialAttention2D(nn.Module):
    """Height-axis then width-axis attention.

    Args:
        in_channels: input channels.
        filters: base width; keys use ``filters * key_expansion`` channels and values (and
            the output) ``filters * value_expansion``.
        key_expansion: key width multiplier.
        value_expansion: value width multiplier.
        num_heads: attention heads.
        norm_cfg: norm config.
    """

    def __init__(self, in_channels: int, filters: int, key_expansion: float = 1,
                 value_expansion: float = 2, num_heads: int = 8,
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        key_channels = int(round(filters * key_expansion))
        self.value_channels = int(round(filters * value_expansion))
        self.height_axis = AxialAttention(in_channels, key_channels, self.value_channels,
                                          num_heads, norm_cfg)
        self.width_axis = AxialAttention(self.value_channels, key_channels, self.value_channels,
                                         num_heads, norm_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.permute(0, 3, 1, 2).reshape(n * w, c, h)
        x = self.height_axis(x)
        x = x.reshape(n, w, self.value_channels, h).permute(0, 3, 2, 1).reshape(
            n * h, self.value_channels, w)
        x = self.width_axis(x)
        return x.reshape(n, h, self.value_channels, w).permute(0, 2, 1, 3).contiguous()


class AxialBlock(nn.Module):
    """DeepLab2 residual block with an axial-attention or a 3x3-conv bottleneck.

    GELU is applied to the block input first (pre-activation); the shortcut takes that activated
    input, as in the official code.

    Args:
        in_channels: input channels.
        filters: (conv1 output, attention/conv2 width, block output) channels.
        block_type: ``'axial'`` or ``'bottleneck'``.
        num_heads: attention heads of axial blocks.
        drop_path_rate: stochastic depth of the residual branch.
        norm_cfg: norm config.
    """

    def __init__(self, in_channels: int, filters: Sequence[int], block_type: str,
                 num_heads: int = 8, drop_path_rate: float = 0.0,
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        self.block_type = block_type.lower()
        act = dict(type='GELU')
        self.conv1 = ConvNormAct(in_channels, filters[0], 1, norm_cfg=norm_cfg, act_cfg=act)
        if self.block_type == 'axial':
            self.attention = AxialAttention2D(filters[0], filters[1], key_expansion=1,
                                              value_expansion=2, num_heads=num_heads,
                                              norm_cfg=norm_cfg)
            mid_channels = filters[1] * 2
        elif self.block_type == 'bottleneck':
            self.conv2 = ConvNormAct(filters[0], filters[1], 3, padding=1, norm_cfg=norm_cfg,
                                     act_cfg=act)
            mid_channels = filters[1]
        else:
            raise ValueError(f"block_type must be 'axial' or 'bottleneck', got {block_type!r}")
        self.conv3 = ConvNormAct(mid_channels, filters[2], 1, norm_cfg=norm_cfg, norm_init=0.0)
        self.shortcut = None
        if in_channels != filters[2]:
            self.shortcut = ConvNormAct(in_channels, filters[2], 1, norm_cfg=norm_cfg)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(x)
        shortcut = x if self.shortcut is None else self.shortcut(x)
        x = self.conv1(x)
        if self.block_type == 'axial':
            x = F.gelu(self.attention(x))
        else:
            x = self.conv2(x)
        x = self.conv3(x)
        return self.drop_path(x) + shortcut


class ResizedFuse(nn.Module):
    """Upsample the coarser decoder feature and add the projected backbone feature.

    Args:
        low_channels: channels of the coarser (decoder) feature.
        high_channels: channels of the finer (backbone) feature.
        out_channels: output channels.
        norm_cfg: norm config.
    """

    def __init__(self, low_channels: int, high_channels: int, out_channels: int,
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        self.low_proj = None
        self.high_proj = None
        if low_channels != out_channels:
            self.low_proj = ConvNormAct(low_channels, out_channels, 1, norm_cfg=norm_cfg)
        if high_channels != out_channels:
            self.high_proj = ConvNormAct(high_channels, out_channels, 1, norm_cfg=norm_cfg)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        align_corners = kmax_align_corners(low)
        if self.low_proj is not None:
            low = self.low_proj(F.gelu(low))
        low = F.interpolate(low, size=spatial_size(high), mode='bilinear',
                            align_corners=align_corners)
        if self.high_proj is not None:
            high = self.high_proj(F.gelu(high))
        return low + high


@MODELS.register_module()
class KMaXPixelDecoder(BaseModule):
    """kMaX-DeepLab pixel decoder.

    Backbone features are taken coarsest first (stride 32, 16, 8, 4), each normalised by a
    channels-first LayerNorm. Each stage runs a group of blocks and its output is fused (upsample
    + add) with the next finer backbone feature.

    ``in_index`` picks which backbone feature feeds each stage. The official Cityscapes model
    (``IN_FEATURES: [stem, res2, res3, res4, res5]``) has five stages: detectron2 sorts the
    features by stride with a stable sort, so the stride-4 ``stem`` (64 channels, after the max
    pool) comes before ``res2`` and the last two stages both run at stride 4:
    ``in_index=(4, 3, 2, 0, 1)`` for backbone outputs ``(stem, res2, res3, res4, res5)``.

    Args:
        in_channels: backbone channels in backbone order, finest first (e.g. 256, 512, 1024,
            2048).
        dec_layers: blocks per stage, coarsest first.
        dec_channels: base width per stage, coarsest first; a stage outputs 4x that.
        layer_types: ``'axial'`` or ``'bottleneck'`` per stage, coarsest first.
        num_heads: axial-attention heads.
        drop_path_rate: stochastic depth of every block.
        norm_cfg: norm config.
        in_index: index into the backbone features of each stage's input, coarsest stage
            first; None for the backbone order reversed.
        init_cfg: mmengine init config (the constructor already applies the official init).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048),
                 dec_layers: Sequence[int] = (1, 5, 1, 1),
                 dec_channels: Sequence[int] = (512, 256, 128, 64),
                 layer_types: Sequence[str] = ('axial', 'axial', 'bottleneck', 'bottleneck'),
                 num_heads: int = 8,
                 drop_path_rate: float = 0.0,
                 norm_cfg: dict = KMAX_NORM_CFG,
                 in_index: Sequence[int] | None = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        num_stages = len(in_channels)
        if not (len(dec_layers) == len(dec_channels) == len(layer_types) == num_stages):
            raise ValueError('in_channels, dec_layers, dec_channels and layer_types must have '
                             f'the same length, got {len(in_channels)}, {len(dec_layers)}, '
                             f'{len(dec_channels)} and {len(layer_types)}')
        if in_index is None:
            in_index = range(num_stages - 1, -1, -1)
        self.in_index = [int(i) for i in in_index]
        if sorted(self.in_index) != list(range(num_stages)):
            raise ValueError(f'in_index must order all {num_stages} backbone features, '
                             f'got {tuple(in_index)}')
        coarse_first = [in_channels[i] for i in self.in_index]
        self.num_stages = num_stages
        self.out_channels = [c * 4 for c in dec_channels]
        self.in_norms = nn.ModuleList()
        self.stages = nn.ModuleList()
        self.fuses = nn.ModuleList()
        for i in range(num_stages):
            self.in_norms.append(LayerNorm2d(coarse_first[i]))
            base = dec_channels[i]
            if layer_types[i].lower() == 'axial':
                filters = [base * 2, base, base * 4]
            else:
                filters = [base, base, base * 4]
            blocks = []
            block_in = coarse_first[0] if i == 0 else base
            for _ in range(dec_layers[i]):
                blocks.append(AxialBlock(block_in, filters, layer_types[i], num_heads,
                                         drop_path_rate, norm_cfg))
                block_in = filters[-1]
            self.stages.append(nn.Sequential(*blocks))
            if i > 0:
                self.fuses.append(ResizedFuse(dec_channels[i - 1] * 4, coarse_first[i], base,
                                              norm_cfg))

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Decode backbone features.

        Args:
            feats: backbone features in backbone order (e.g. stride 4 to stride 32).

        Returns:
            list[Tensor]: the decoder outputs coarsest first (stride 32, 16, 8, 4 for four
            stages; 32, 16, 8, 4, 4 for the five-stage Cityscapes decoder).
        """
        if len(feats) != self.num_stages:
            raise ValueError(f'expected {self.num_stages} backbone features, got {len(feats)}')
        coarse_first = [feats[i] for i in self.in_index]
        outs = []
        x = self.in_norms[0](coarse_first[0])
        for i in range(self.num_stages):
            x = self.stages[i](x)
            outs.append(x)
            if i + 1 < self.num_stages:
                x = self.fuses[i](x, self.in_norms[i + 1](coarse_first[i + 1]))
        return outs
