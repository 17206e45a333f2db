"""Building blocks shared by the kMaX-DeepLab pixel and transformer decoders.

The convolutions initialise themselves in their constructors, in the same order and with the same
functions as the official PyTorch release (bytedance/kmax-deeplab), so that a model built after
``torch.manual_seed(s)`` holds exactly the weights of the official model built after the same seed.
That is what the reference statistics in the tests are checked against; it is also the paper's
initialisation (He-normal convolutions, zero-initialised last norm of every residual branch).
"""
import math

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from timm.layers import trunc_normal_tf_

# TF DeepLab2 batch-norm settings (momentum 0.01 in PyTorch's convention = 0.99 in Keras').
KMAX_NORM_CFG = dict(type='SyncBN', eps=1e-3, momentum=0.01, requires_grad=True)


def norm_cfg_for_dim(norm_cfg: dict, dim: int) -> dict:
    """Return ``norm_cfg`` adapted to inputs with ``dim`` spatial dimensions.

    mmcv's ``BN`` is ``nn.BatchNorm2d``, which rejects the (N, C, L) tensors of the 1-D paths
    and the (N, 1, Q, H, W) mask logits; ``SyncBN`` (and its non-distributed replacement)
    accepts any rank.

    Args:
        norm_cfg: the configured norm.
        dim: number of spatial dimensions of the input (1, 2 or 3).

    Returns:
        dict: a norm config suitable for that input rank.
    """
    cfg = dict(norm_cfg)
    if cfg['type'] in ('BN', 'BN1d', 'BN2d'):
        cfg['type'] = f'BN{dim}d'
    return cfg


def build_kmax_norm(norm_cfg: dict, channels: int, dim: int = 2,
                    init_value: float = 1.0) -> nn.Module:
    """Build a norm layer for ``dim``-D inputs whose weight starts at ``init_value``."""
    _, norm = build_norm_layer(norm_cfg_for_dim(norm_cfg, dim), channels)
    if init_value != 1.0:
        nn.init.constant_(norm.weight, init_value)
    return norm


class ConvNormAct(nn.Module):
    """Convolution, optional norm and optional activation, initialised as in DeepLab2.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: kernel size.
        stride: stride.
        padding: zero padding.
        dilation: dilation.
        groups: convolution groups.
        bias: whether the convolution has a bias (initialised to 0).
        norm_cfg: norm config, or None for no norm.
        act_cfg: activation config, or None for no activation.
        conv_type: ``'2d'`` for (N, C, H, W) inputs, ``'1d'`` for (N, C, L) inputs.
        conv_init: ``'he_normal'`` (truncated normal, std sqrt(2 / in_channels)),
            ``'xavier_uniform'``, ``'trunc_normal'`` (std 0.02) or ``'normal'`` (std 0.02).
        norm_init: initial value of the norm weight (0 for the last norm of a residual branch).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 padding: int = 0,
                 dilation: int = 1,
                 groups: int = 1,
                 bias: bool = False,
                 norm_cfg: dict | None = KMAX_NORM_CFG,
                 act_cfg: dict | None = None,
                 conv_type: str = '2d',
                 conv_init: str = 'he_normal',
                 norm_init: float = 1.0) -> None:
        super().__init__()
        if conv_type not in ('1d', '2d'):
            raise ValueError(f"conv_type must be '1d' or '2d', got {conv_type!r}")
        conv_cls = nn.Conv2d if conv_type == '2d' else nn.Conv1d
        self.conv = conv_cls(in_channels, out_channels, kernel_size, stride=stride,
                             padding=padding, dilation=dilation, groups=groups, bias=bias)
        self.with_norm = norm_cfg is not None
        if self.with_norm:
            self.bn = build_kmax_norm(norm_cfg, out_channels, 2 if conv_type == '2d' else 1)
        self.act = build_activation_layer(act_cfg) if act_cfg is not None else None

        if conv_init == 'he_normal':
            trunc_normal_tf_(self.conv.weight, std=math.sqrt(2.0 / in_channels))
        elif conv_init == 'xavier_uniform':
            nn.init.xavier_uniform_(self.conv.weight)
        elif conv_init == 'trunc_normal':
            trunc_normal_tf_(self.conv.weight, std=0.02)
        elif conv_init == 'normal':
            nn.init.normal_(self.conv.weight, std=0.02)
        else:
            raise ValueError(f'unknown conv_init {conv_init!r}')
        if bias:
            nn.init.zeros_(self.conv.bias)
        if self.with_norm:
            nn.init.constant_(self.bn.weight, norm_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.with_norm:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x


class LayerNorm2d(nn.Module):
    """Channels-first LayerNorm computed in float32 (ConvNeXt's, eps 1e-6 in kMaX).

    Args:
        channels: number of channels (dim 1 of the input).
        eps: variance epsilon.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Under AMP the statistics of 2048-channel features overflow fp16, hence float32.
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            mean = x.mean(1, keepdim=True)
            var = (x - mean).pow(2).mean(1, keepdim=True)
            x = (x - mean) / torch.sqrt(var + self.eps)
            return self.weight[:, None, None] * x + self.bias[:, None, None]


def kmax_align_corners(x: torch.Tensor) -> bool:
    """DeepLab2's resize convention: corners are aligned when the width is odd."""
    # int() keeps this a Python bool when the model is traced (FLOP counting, export).
    return int(x.shape[-1]) % 2 == 1


def spatial_size(x: torch.Tensor) -> tuple:
    """(H, W) of ``x`` as Python ints (also under tracing)."""
    return tuple(int(s) for s in x.shape[-2:])
