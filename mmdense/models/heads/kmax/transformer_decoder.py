"""kMaX-DeepLab transformer decoder: k-means cross-attention between cluster centres and pixels."""
import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from timm.layers import trunc_normal_tf_

from mmdense.registry import MODELS

from .layers import KMAX_NORM_CFG, ConvNormAct, build_kmax_norm


def add_void_bias(class_logits: torch.Tensor, void_prior_prob: float = 0.9) -> torch.Tensor:
    """Add MaX-DeepLab's prior towards the void class (the last one) to class logits.

    The bias ``log((C - 1) * p / (1 - p))`` makes the initial softmax give probability ``p``
    to void, so that untrained cluster centres start as "no object".
    """
    num_classes = class_logits.shape[-1]
    bias = torch.zeros(num_classes, dtype=class_logits.dtype, device=class_logits.device)
    bias[-1] = math.log((num_classes - 1) * void_prior_prob / (1 - void_prior_prob))
    return class_logits + bias


class KMaXPredictor(nn.Module):
    """Class and mask prediction from cluster centres and a pixel feature.

    Args:
        in_channels_pixel: channels of the pixel feature.
        num_classes: classes including the trailing void class.
        query_channels: channels of the class / mask embeddings.
        norm_cfg: norm config.
    """

    def __init__(self, in_channels_pixel: int, num_classes: int, query_channels: int = 256,
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        act = dict(type='GELU')
        self.pixel_conv0 = ConvNormAct(in_channels_pixel, in_channels_pixel, 5, padding=2,
                                       groups=in_channels_pixel, norm_cfg=norm_cfg, act_cfg=act,
                                       conv_init='xavier_uniform')
        self.pixel_conv1 = ConvNormAct(in_channels_pixel, 256, 1, norm_cfg=norm_cfg, act_cfg=act)
        self.pixel_proj = ConvNormAct(256, 128, 1, bias=True, norm_cfg=norm_cfg)
        trunc_normal_tf_(self.pixel_proj.conv.weight, std=0.01)
        self.mask_head = ConvNormAct(query_channels, 128, 1, norm_cfg=norm_cfg, conv_type='1d')
        self.class_head = ConvNormAct(query_channels, num_classes, 1, bias=True, norm_cfg=None,
                                      conv_type='1d')
        trunc_normal_tf_(self.class_head.conv.weight, std=0.01)
        self.mask_bn = build_kmax_norm(norm_cfg, 1, dim=3, init_value=0.1)

    def forward(self, mask_embeddings: torch.Tensor, class_embeddings: torch.Tensor,
                pixel_feature: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict.

        Args:
            mask_embeddings: (B, C, N) cluster embeddings for the masks.
            class_embeddings: (B, C, N) cluster embeddings for the classes.
            pixel_feature: (B, C', H, W).

        Returns:
            dict: ``class_logits`` (B, N, num_classes), ``mask_logits`` (B, N, H, W) and
            ``pixel_feature`` (B, 128, H, W), L2-normalised over channels.
        """
        pixel = self.pixel_proj(self.pixel_conv1(self.pixel_conv0(pixel_feature)))
        pixel = F.normalize(pixel, p=2, dim=1)
        class_logits = add_void_bias(self.class_head(class_embeddings).transpose(1, 2))
        kernel = self.mask_head(mask_embeddings)
        mask_logits = torch.einsum('bchw,bcn->bnhw', pixel, kernel)
        mask_logits = self.mask_bn(mask_logits.unsqueeze(1)).squeeze(1)
        return dict(class_logits=class_logits, mask_logits=mask_logits, pixel_feature=pixel)


class QuerySelfAttention(nn.Module):
    """Multi-head self-attention among cluster centres with batch-normalised logits.

    Args:
        value_channels: total value channels.
        num_heads: attention heads.
        norm_cfg: norm config.
    """

    def __init__(self, value_channels: int, num_heads: int,
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        self.similarity_bn = build_kmax_norm(norm_cfg, num_heads, dim=2)
        self.retrieved_bn = build_kmax_norm(norm_cfg, value_channels, dim=1)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attend; q, k: (B, heads, d, L), v: (B, heads, dv, L); returns (B, heads*dv, L)."""
        n, heads, dv, length = v.shape
        similarity = self.similarity_bn(torch.einsum('bhdl,bhdm->bhlm', q, k))
        with torch.autocast(device_type=q.device.type, enabled=False):
            weights = F.softmax(similarity.float(), dim=-1)
        retrieved = torch.einsum('bhlm,bhdm->bhdl', weights, v.to(weights.dtype))
        retrieved = self.retrieved_bn(retrieved.reshape(n, heads * dv, length))
        return F.gelu(retrieved)


class KMaXTransformerLayer(nn.Module):
    """One kMaX decoder layer: k-means cross-attention, query self-attention and FFN.

    The k-means step assigns every pixel to the cluster centre with the highest mask logit
    (hard argmax, no gradient) and adds the sum of the assigned pixel values to that centre.
    Its mask logits are the layer's mask prediction (deep supervision).

    Args:
        num_classes: classes including void.
        in_channels_pixel: channels of the pixel feature at this layer's stride.
        query_channels: channels of the cluster centres.
        base_filters: base width; bottleneck = 2x, keys = 1x, values = 2x.
        num_heads: self-attention heads.
        ffn_channels: hidden width of the FFN.
        drop_path_rate: stochastic depth of the three query updates.
        norm_cfg: norm config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels_pixel: int,
                 query_channels: int = 256,
                 base_filters: int = 128,
                 num_heads: int = 8,
                 ffn_channels: int = 2048,
                 drop_path_rate: float = 0.0,
                 norm_cfg: dict = KMAX_NORM_CFG) -> None:
        super().__init__()
        self.num_heads = num_heads
        bottleneck = base_filters * 2
        self.key_channels = base_filters
        self.value_channels = base_filters * 2
        act = dict(type='GELU')
        self.drop_path_kmeans = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.drop_path_attn = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.drop_path_ffn = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

        init_std = bottleneck**-0.5
        self.query_conv1 = ConvNormAct(query_channels, bottleneck, 1, norm_cfg=norm_cfg,
                                       act_cfg=act, conv_type='1d')
        self.pixel_conv1 = ConvNormAct(in_channels_pixel, bottleneck, 1, norm_cfg=norm_cfg,
                                       act_cfg=act)
        self.query_qkv = ConvNormAct(bottleneck, self.key_channels * 2 + self.value_channels, 1,
                                     norm_cfg=norm_cfg, conv_type='1d')
        trunc_normal_tf_(self.query_qkv.conv.weight, std=init_std)
        self.pixel_v = ConvNormAct(bottleneck, self.value_channels, 1, norm_cfg=norm_cfg)
        trunc_normal_tf_(self.pixel_v.conv.weight, std=init_std)
        self.self_attn = QuerySelfAttention(self.value_channels, num_heads, norm_cfg)
        self.query_conv3 = ConvNormAct(self.value_channels, query_channels, 1, norm_cfg=norm_cfg,
                                       conv_type='1d', norm_init=0.0)
        self.ffn_conv1 = ConvNormAct(query_channels, ffn_channels, 1, norm_cfg=norm_cfg,
                                     act_cfg=act, conv_type='1d')
        self.ffn_conv2 = ConvNormAct(ffn_channels, query_channels, 1, norm_cfg=norm_cfg,
                                     conv_type='1d', norm_init=0.0)
        self.predictor = KMaXPredictor(bottleneck, num_classes, bottleneck, norm_cfg)
        self.kmeans_bn = build_kmax_norm(norm_cfg, self.value_channels, dim=1)
        self.kmeans_conv3 = ConvNormAct(self.value_channels, query_channels, 1, norm_cfg=norm_cfg,
                                        conv_type='1d', norm_init=0.0)

    def forward(self, pixel_feature: torch.Tensor, query: torch.Tensor):
        """Update the cluster centres.

        Args:
            pixel_feature: (B, C, H, W).
            query: (B, D, L) cluster centres.

        Returns:
            tuple: the updated centres (B, D, L) and this layer's predictions (see
            :class:`KMaXPredictor`).
        """
        n, _, h, w = pixel_feature.shape
        length = query.shape[-1]
        pixel_space = self.pixel_conv1(F.gelu(pixel_feature))
        query_space = self.query_conv1(query)

        pixel_value = self.pixel_v(pixel_space).reshape(n, self.value_channels, h * w)
        prediction = self.predictor(query_space, query_space, pixel_space)
        with torch.no_grad():
            logits = prediction['mask_logits'].detach().flatten(2)
            assignment = torch.zeros_like(logits).scatter_(1, logits.argmax(1, keepdim=True), 1.0)
        with torch.autocast(device_type=query.device.type, enabled=False):
            kmeans_update = torch.einsum('blm,bdm->bdl', assignment.float(), pixel_value.float())
        kmeans_update = self.kmeans_conv3(self.kmeans_bn(kmeans_update))
        query = query + self.drop_path_kmeans(kmeans_update)

        q, k, v = torch.split(self.query_qkv(query_space),
                              [self.key_channels, self.key_channels, self.value_channels], dim=1)
        heads = self.num_heads
        attn = self.self_attn(q.reshape(n, heads, -1, length), k.reshape(n, heads, -1, length),
                              v.reshape(n, heads, -1, length))
        query = F.gelu(query + self.drop_path_attn(self.query_conv3(attn)))
        query = F.gelu(query + self.drop_path_ffn(self.ffn_conv2(self.ffn_conv1(query))))
        return query, prediction


@MODELS.register_module()
class KMaXTransformerDecoder(BaseModule):
    """kMaX transformer decoder over the pixel decoder's stride-32/16/8 outputs.

    Args:
        num_classes: thing + stuff classes (void is added).
        in_channels: pixel decoder channels at the strides the layers attend to (coarsest
            first), plus the channels of the final (stride-4) feature as the last entry.
        dec_layers: transformer layers per attended stride.
        num_queries: cluster centres.
        query_channels: cluster centre width.
        drop_path_rate: stochastic depth of the query updates.
        norm_cfg: norm config.
        init_cfg: mmengine init config (the constructor already applies the official init).
    """

    def __init__(self,
                 num_classes: int = 133,
                 in_channels: Sequence[int] = (2048, 1024, 512, 256),
                 dec_layers: Sequence[int] = (2, 2, 2),
                 num_queries: int = 128,
                 query_channels: int = 256,
                 drop_path_rate: float = 0.0,
                 norm_cfg: dict = KMAX_NORM_CFG,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if len(in_channels) != len(dec_layers) + 1:
            raise ValueError('in_channels needs one entry per attended stride plus one for the '
                             f'final feature: got {len(in_channels)} for dec_layers {dec_layers}')
        self.dec_layers = list(dec_layers)
        self.num_queries = num_queries
        self.layers = nn.ModuleList()
        for stage, num_layers in enumerate(dec_layers):
            for _ in range(num_layers):
                self.layers.append(
                    KMaXTransformerLayer(num_classes + 1, in_channels[stage], query_channels,
                                         drop_path_rate=drop_path_rate, norm_cfg=norm_cfg))
        self.cluster_centers = nn.Embedding(query_channels, num_queries)
        trunc_normal_tf_(self.cluster_centers.weight, std=1.0)
        act = dict(type='GELU')
        self.class_embed_proj = ConvNormAct(query_channels, query_channels, 1, norm_cfg=norm_cfg,
                                            act_cfg=act, conv_type='1d')
        self.mask_embed_proj = ConvNormAct(query_channels, query_channels, 1, norm_cfg=norm_cfg,
                                           act_cfg=act, conv_type='1d')
        self.predictor = KMaXPredictor(in_channels[-1], num_classes + 1, query_channels,
                                       norm_cfg)

    def forward(self, feats: Sequence[torch.Tensor],
                final_feature: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Run all layers and the final prediction.

        Args:
            feats: pixel decoder features, one per attended stride (coarsest first).
            final_feature: the stride-4 pixel decoder feature.

        Returns:
            list[dict]: predictions of every layer followed by the final one, each with
            ``class_logits`` (B, N, C+1), ``mask_logits`` (B, N, h, w) and ``pixel_feature``
            (B, 128, h, w) at that layer's own resolution.
        """
        if len(feats) != len(self.dec_layers):
            raise ValueError(f'expected {len(self.dec_layers)} features, got {len(feats)}')
        query = self.cluster_centers.weight.unsqueeze(0).expand(feats[0].shape[0], -1, -1)
        predictions = []
        layer_idx = 0
        for feat, num_layers in zip(feats, self.dec_layers):
            for _ in range(num_layers):
                query, prediction = self.layers[layer_idx](feat, query)
                predictions.append(prediction)
                layer_idx += 1
        predictions.append(
            self.predictor(self.mask_embed_proj(query), self.class_embed_proj(query),
                           final_feature))
        return predictions
