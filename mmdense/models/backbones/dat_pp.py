"""DAT++ backbone (Xia et al., "DAT++: Spatially Dynamic Vision Transformer with Deformable
Attention", 2023)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, ModuleList
from mmengine.utils import to_2tuple

from mmdense.registry import MODELS

from .dat import DATBackboneBase
from .dat_pp_layers import (
    DATPPBlock,
    DATPPConvFFN,
    DATPPDeformableAttention,
    DATPPDownsample,
    DATPPStem,
)
from .dat_pp_neighborhood_attention import NeighborhoodAttention2d

# Block letters of the official ``stage_spec`` that DAT++ uses: 'N' neighbourhood attention,
# 'D' deformable attention.
_BLOCK_TYPES = ('N', 'D')
# 'N' blocks in stages 1-3 alternating with 'D', stage 4 all 'D' (configs/dat/upn_*.py).
_DATPP_BLOCKS = ('ND', 'ND' * 2, 'ND' * 9, 'DD')


class DATPPStage(BaseModule):
    """One resolution stage of DAT++.

    Args:
        embed_dims (int): Channels.
        block_types (str): One letter per block, 'N' or 'D'.
        num_heads (int): Attention heads.
        num_groups (int): Offset groups of the 'D' blocks.
        nat_kernel_size (int): Window of the 'N' blocks.
        rpe_table_size (tuple[int, int]): Bias table shape of the 'D' blocks.
        offset_kernel_size (int): Depthwise kernel of the 'D' offset network.
        offset_stride (int): Stride of the 'D' offset network.
        offset_range_factor (float): Offset bound of the 'D' blocks (< 0: clamp only).
        mlp_ratio (int): FFN expansion.
        use_lpu (bool): Add the depthwise 3x3 local perception unit before every block.
        layer_scale_init_value (float): Layer scale; <= 0 for none.
        drop_rate (float): Dropout in the FFN and after the attention projections.
        attn_drop_rate (float): Dropout on the attention weights.
        drop_path_rates (Sequence[float]): Stochastic depth of each block.
        norm_cfg (dict): Norm config.
        act_cfg (dict): Activation config.
        with_cp (bool): Gradient checkpointing of every block.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 block_types: str,
                 num_heads: int,
                 num_groups: int,
                 nat_kernel_size: int,
                 rpe_table_size: tuple[int, int],
                 offset_kernel_size: int,
                 offset_stride: int,
                 offset_range_factor: float,
                 mlp_ratio: int,
                 use_lpu: bool,
                 layer_scale_init_value: float,
                 drop_rate: float,
                 attn_drop_rate: float,
                 drop_path_rates: Sequence[float],
                 norm_cfg: dict,
                 act_cfg: dict,
                 with_cp: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        depth = len(block_types)
        # The official stage creates its norms, FFNs, layer scales, LPUs and only then the
        # attention layers; keeping that order keeps seeded builds equal to the official ones.
        norms = [build_norm_layer(norm_cfg, embed_dims)[1] for _ in range(2 * depth)]
        ffns = [
            DATPPConvFFN(embed_dims, mlp_ratio * embed_dims, drop_rate, act_cfg)
            for _ in range(depth)
        ]
        lpus = [
            nn.Conv2d(embed_dims, embed_dims, 3, 1, 1, groups=embed_dims) if use_lpu else None
            for _ in range(depth)
        ]
        attns = []
        for kind in block_types:
            if kind == 'N':
                attns.append(
                    NeighborhoodAttention2d(embed_dims, num_heads, nat_kernel_size,
                                            attn_drop_rate, drop_rate))
            else:
                attns.append(
                    DATPPDeformableAttention(embed_dims, num_heads, num_groups, rpe_table_size,
                                             offset_kernel_size, offset_stride,
                                             offset_range_factor, attn_drop_rate, drop_rate,
                                             norm_cfg, act_cfg))
        self.blocks = ModuleList([
            DATPPBlock(embed_dims, lpus[i], norms[2 * i], attns[i], norms[2 * i + 1], ffns[i],
                       drop_path_rates[i], layer_scale_init_value, with_cp)
            for i in range(depth)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` -> ``(B, H, W, C)``."""
        for block in self.blocks:
            x = block(x)
        return x


@MODELS.register_module()
class DATPlusPlus(DATBackboneBase):
    """DAT++ backbone, the model of LeapLabTHU/DAT-Segmentation (``DAT`` there).

    A re-implementation of ``mmseg/models/backbones/dat.py`` @ 1ef86851 with the settings of
    ``configs/_base_/models/upernet_dat.py`` merged with ``configs/dat/upn_{tiny,small,base}_*``
    (the FPN configs use the same backbones): a convolutional stem (two 3x3 stride-2 convs),
    four stages at strides 4/8/16/32 joined by 3x3 stride-2 convs (no bias) + LayerNorm, a
    LayerNorm on every output. Stages 1-3 alternate neighbourhood attention ('N', 7x7) and
    deformable attention ('D'), stage 4 has two 'D' blocks. Every block starts with a depthwise
    3x3 local perception unit and uses a ConvFFN (depthwise 3x3 inside the MLP); no layer
    scale. The deformable attention's offset networks have kernels 9/7/5/3 and strides 8/4/2/1,
    no offset bound (positions clamped to the map), and a bias table sized from a 224 input.

    Differences from the official code, none of which changes the outputs:

    - The neighbourhood attention is plain PyTorch (``neighborhood_attention_2d`` of
      ``dat_pp_neighborhood_attention.py``), not the compiled ``natten``.
    - Channels-last tensors and linear layers for the official 1x1 convs (same weights).
    - ``with_cp`` checkpoints every block (the official code checkpoints every stage).
    - Maps of one row or column: the official bias grid divides by ``H - 1 = 0`` (NaN
      outputs); the single coordinate is 0 here.

    Modules are created in the official order and keep PyTorch's default initialisation (the
    official ``reset_parameters`` is a no-op); the tables use truncated normals (std 0.01 for
    ``rpe_table``, 0.02 for ``rpb``). Official checkpoints (the ImageNet-1k weights under
    ``model`` and the segmentation releases under ``state_dict``) are converted with
    ``tools/model_converters/dat2mmdense.py``.

    Args:
        arch (str | dict): 'tiny', 'small', 'base', or a dict with the keys ``embed_dims``,
            ``depths``, ``num_heads``, ``num_groups`` and ``block_types`` (four entries each;
            ``block_types`` holds one letter 'N'/'D' per block).
        in_channels (int): Image channels. Defaults to 3.
        mlp_ratio (int): FFN expansion. Defaults to 4.
        nat_kernel_size (int): Window of the neighbourhood attention. Defaults to 7.
        pretrain_img_size (int | tuple[int, int]): Input size of the pre-training; sets the
            deformable bias tables (``2 * H_i - 1`` with ``H_i`` the stage size), which must
            match the checkpoint. It does not restrict the input size. Defaults to 224.
        offset_kernel_sizes (Sequence[int]): Offset-network kernel per stage.
            Defaults to (9, 7, 5, 3).
        offset_strides (Sequence[int]): Offset-network stride per stage. Defaults to
            (8, 4, 2, 1).
        offset_range_factor (float): Offset bound; negative for none (clamped positions).
            Defaults to -1.
        use_lpu (bool): Local perception units. Defaults to True.
        layer_scale_init_value (float): Layer scale; <= 0 for none. Defaults to -1.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to
            (0, 1, 2, 3).
        drop_rate (float): Dropout in the FFNs and after the attention projections.
            Defaults to 0.
        attn_drop_rate (float): Dropout on the attention weights. Defaults to 0.
        drop_path_rate (float): Stochastic depth, increased linearly over the blocks from 0.
            Defaults to 0.
        norm_cfg (dict): Norm config. Defaults to ``dict(type='LN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='GELU')``.
        with_cp (bool): Gradient checkpointing of every block. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config. Defaults to None.
    """

    arch_zoo = {
        'tiny': dict(
            embed_dims=(64, 128, 256, 512),
            depths=(2, 4, 18, 2),
            num_heads=(2, 4, 8, 16),
            num_groups=(1, 2, 4, 8),
            block_types=_DATPP_BLOCKS),
        'small': dict(
            embed_dims=(96, 192, 384, 768),
            depths=(2, 4, 18, 2),
            num_heads=(3, 6, 12, 24),
            num_groups=(1, 2, 3, 6),
            block_types=_DATPP_BLOCKS),
        'base': dict(
            embed_dims=(128, 256, 512, 1024),
            depths=(2, 4, 18, 2),
            num_heads=(4, 8, 16, 32),
            num_groups=(2, 4, 8, 16),
            block_types=_DATPP_BLOCKS),
    }
    block_letters = _BLOCK_TYPES

    def __init__(self,
                 arch: str | dict = 'tiny',
                 in_channels: int = 3,
                 mlp_ratio: int = 4,
                 nat_kernel_size: int = 7,
                 pretrain_img_size: int | tuple[int, int] = 224,
                 offset_kernel_sizes: Sequence[int] = (9, 7, 5, 3),
                 offset_strides: Sequence[int] = (8, 4, 2, 1),
                 offset_range_factor: float = -1.,
                 use_lpu: bool = True,
                 layer_scale_init_value: float = -1.,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None,
                 with_cp: bool = False,
                 init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        settings = self._init_settings(arch, in_channels, out_indices,
                                       offset_kernel_sizes=offset_kernel_sizes,
                                       offset_strides=offset_strides)
        self.out_norm = True  # DAT++ always normalises its outputs
        norm_cfg = norm_cfg or dict(type='LN')
        act_cfg = act_cfg or dict(type='GELU')
        embed_dims, depths = settings['embed_dims'], settings['depths']
        num_stages = len(depths)

        self.patch_embed = DATPPStem(in_channels, embed_dims[0], norm_cfg, act_cfg)
        dpr = [r.item() for r in torch.linspace(0, drop_path_rate, sum(depths))]
        fmap_h, fmap_w = (s // 4 for s in to_2tuple(pretrain_img_size))
        self.stages = ModuleList()
        for i in range(num_stages):
            start = sum(depths[:i])
            self.stages.append(
                DATPPStage(
                    embed_dims=embed_dims[i],
                    block_types=settings['block_types'][i],
                    num_heads=settings['num_heads'][i],
                    num_groups=settings['num_groups'][i],
                    nat_kernel_size=nat_kernel_size,
                    rpe_table_size=(2 * fmap_h - 1, 2 * fmap_w - 1),
                    offset_kernel_size=offset_kernel_sizes[i],
                    offset_stride=offset_strides[i],
                    offset_range_factor=offset_range_factor,
                    mlp_ratio=mlp_ratio,
                    use_lpu=use_lpu,
                    layer_scale_init_value=layer_scale_init_value,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rates=dpr[start:start + depths[i]],
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    with_cp=with_cp))
            if i in self.out_indices:
                self.add_module(f'norm{i}', build_norm_layer(norm_cfg, embed_dims[i])[1])
            fmap_h, fmap_w = fmap_h // 2, fmap_w // 2
        self.downsamples = ModuleList([
            DATPPDownsample(embed_dims[i], embed_dims[i + 1], norm_cfg)
            for i in range(num_stages - 1)
        ])
