"""Auxiliary semantic head of kMaX-DeepLab (a Panoptic-DeepLab single decoder), train-only."""
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_tf_

from .layers import KMAX_NORM_CFG, ConvNormAct, kmax_align_corners, spatial_size


class KMaXASPP(nn.Module):
    """ASPP with GELU activations and dropout 0.1 after the projection (DeepLab2).

    Args:
        in_channels: input channels.
        channels: channels of every branch and of the output.
        dilations: dilations of the three 3x3 branches.
        norm_cfg: norm config.
    """

    def __init__(self, in_channels: int, channels: int = 256,
                 dilations: Sequence[int] = (6, 12, 18),
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        act = dict(type='GELU')
        self.convs = nn.ModuleList(
            [ConvNormAct(in_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=act)])
        for d in dilations:
            self.convs.append(ConvNormAct(in_channels, channels, 3, padding=d, dilation=d,
                                          norm_cfg=norm_cfg, act_cfg=act))
        self.pool_conv = ConvNormAct(in_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=act)
        self.project = ConvNormAct(channels * (len(dilations) + 2), channels, 1,
                                   norm_cfg=norm_cfg, act_cfg=act)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [conv(x) for conv in self.convs]
        pooled = self.pool_conv(F.adaptive_avg_pool2d(x, 1))
        outs.append(F.interpolate(pooled, size=spatial_size(x), mode='bilinear',
                                  align_corners=kmax_align_corners(x)))
        return self.dropout(self.project(torch.cat(outs, dim=1)))


class KMaXAuxSemanticHead(nn.Module):
    """Semantic logits at stride 4 from backbone features at strides 32, 8 and 4.

    Args:
        in_channels: backbone channels at strides 4, 8, 16, 32 (stride 16 is unused).
        num_classes: output classes (kMaX uses thing + stuff + void).
        norm_cfg: norm config.
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int,
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        act = dict(type='GELU')
        self.aspp = KMaXASPP(in_channels[3], 256, (6, 12, 18), norm_cfg)
        self.os8_proj = ConvNormAct(in_channels[1], 64, 1, norm_cfg=norm_cfg, act_cfg=act)
        self.os8_fuse_dw = ConvNormAct(320, 320, 5, padding=2, groups=320, norm_cfg=norm_cfg,
                                       act_cfg=act, conv_init='xavier_uniform')
        self.os8_fuse_pw = ConvNormAct(320, 256, 1, norm_cfg=norm_cfg, act_cfg=act)
        self.os4_proj = ConvNormAct(in_channels[0], 32, 1, norm_cfg=norm_cfg, act_cfg=act)
        self.os4_fuse_dw = ConvNormAct(288, 288, 5, padding=2, groups=288, norm_cfg=norm_cfg,
                                       act_cfg=act, conv_init='xavier_uniform')
        self.os4_fuse_pw = ConvNormAct(288, 256, 1, norm_cfg=norm_cfg, act_cfg=act)
        self.head_dw = ConvNormAct(256, 256, 5, padding=2, groups=256, norm_cfg=norm_cfg,
                                   act_cfg=act, conv_init='xavier_uniform')
        self.head_pw = ConvNormAct(256, 256, 1, norm_cfg=norm_cfg, act_cfg=act)
        self.cls_conv = ConvNormAct(256, num_classes, 1, bias=True, norm_cfg=None)
        trunc_normal_tf_(self.cls_conv.conv.weight, std=0.01)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Predict semantic logits at the resolution of ``feats[0]`` (stride 4)."""
        x = self.aspp(feats[3])
        # DeepLab2 decides corner alignment once, from the ASPP output width.
        align_corners = kmax_align_corners(x)
        os8 = self.os8_proj(feats[1])
        x = F.interpolate(x, size=spatial_size(os8), mode='bilinear', align_corners=align_corners)
        x = self.os8_fuse_pw(self.os8_fuse_dw(torch.cat([x, os8], dim=1)))
        os4 = self.os4_proj(feats[0])
        x = F.interpolate(x, size=spatial_size(os4), mode='bilinear', align_corners=align_corners)
        x = self.os4_fuse_pw(self.os4_fuse_dw(torch.cat([x, os4], dim=1)))
        return self.cls_conv(self.head_pw(self.head_dw(x)))


class KMaXAuxSemanticLightHead(nn.Sequential):
    """Semantic logits at stride 32 from the last backbone feature alone.

    The official transformer decoder builds this instead of :class:`KMaXAuxSemanticHead` when
    ``USE_AUX_SEMANTIC_DECODER`` is False (bytedance/kmax-deeplab
    kmax_deeplab/modeling/transformer_decoder/kmax_transformer_decoder.py, kMaXTransformerDecoder
    ``__init__``): a 5x5 depthwise conv, a 1x1 conv to 256 and a 1x1 classifier with bias, with
    ``num_classes`` outputs (no void channel). Children are numbered as there, so the official
    ``_auxiliary_semantic_predictor.{0,1,2}`` keys map one to one.

    Args:
        in_channels: channels of the last backbone feature (2048 for ResNet-50).
        num_classes: output classes.
        norm_cfg: norm config.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        act = dict(type='GELU')
        super().__init__(
            ConvNormAct(in_channels, in_channels, 5, padding=2, groups=in_channels,
                        norm_cfg=norm_cfg, act_cfg=act, conv_init='xavier_uniform'),
            ConvNormAct(in_channels, 256, 1, norm_cfg=norm_cfg, act_cfg=act),
            ConvNormAct(256, num_classes, 1, bias=True, norm_cfg=None))
        trunc_normal_tf_(self[2].conv.weight, std=0.01)
