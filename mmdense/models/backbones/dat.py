"""DAT backbone (Xia et al., "Vision Transformer with Deformable Attention", CVPR 2022)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule, ModuleList
from mmengine.utils import to_2tuple

from mmdense.registry import MODELS

from .dat_layers import DATBlock, DATDeformableAttention, DATPatchEmbed, DATWindowAttention

# Block letters of the official ``stage_spec``: 'L' local window attention, 'S' shifted window
# attention, 'D' deformable attention.
_BLOCK_TYPES = ('L', 'S', 'D')


class DATStage(BaseModule):
    """One resolution stage of DAT: ``depth`` pre-norm transformer blocks.

    Args:
        embed_dims (int): Channels.
        block_types (str): One letter per block: 'L' (window attention), 'S' (shifted window
            attention, shift ``ceil(window_size / 2)``) or 'D' (deformable attention).
        num_heads (int): Attention heads.
        num_groups (int): Offset groups of the 'D' blocks.
        window_size (int): Window side of the 'L'/'S' blocks.
        rpe_table_size (tuple[int, int]): Bias table shape of the 'D' blocks.
        offset_kernel_size (int): Depthwise kernel of the 'D' offset network.
        offset_range_factor (float): Offset bound of the 'D' blocks.
        mlp_ratio (int): FFN expansion.
        drop_rate (float): Dropout in the FFN and after the attention projections.
        attn_drop_rate (float): Dropout on the attention weights.
        drop_path_rates (Sequence[float]): Stochastic depth of each block.
        norm_cfg (dict): Norm config.
        act_cfg (dict): Activation config (FFN and offset network).
        with_cp (bool): Gradient checkpointing of every block.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 block_types: str,
                 num_heads: int,
                 num_groups: int,
                 window_size: int,
                 rpe_table_size: tuple[int, int],
                 offset_kernel_size: int,
                 offset_range_factor: float,
                 mlp_ratio: int,
                 drop_rate: float,
                 attn_drop_rate: float,
                 drop_path_rates: Sequence[float],
                 norm_cfg: dict,
                 act_cfg: dict,
                 with_cp: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        depth = len(block_types)
        # The official code builds every FFN of the stage, then every attention layer; this
        # order makes `torch.manual_seed(s); DAT(...)` draw the official initial weights.
        ffns = [
            FFN(embed_dims=embed_dims,
                feedforward_channels=mlp_ratio * embed_dims,
                num_fcs=2,
                act_cfg=act_cfg,
                ffn_drop=drop_rate,
                dropout_layer=dict(type='DropPath', drop_prob=drop_path_rates[i]),
                add_identity=True) for i in range(depth)
        ]
        attns = []
        for kind in block_types:
            if kind == 'D':
                attns.append(
                    DATDeformableAttention(
                        embed_dims, num_heads, num_groups, rpe_table_size, offset_kernel_size,
                        offset_range_factor, attn_drop_rate, drop_rate, norm_cfg, act_cfg))
            else:
                shift = (window_size + 1) // 2 if kind == 'S' else 0
                attns.append(
                    DATWindowAttention(embed_dims, num_heads, window_size, shift,
                                       attn_drop_rate, drop_rate))
        self.blocks = ModuleList([
            DATBlock(embed_dims, attns[i], ffns[i], drop_path_rates[i], norm_cfg, with_cp)
            for i in range(depth)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the blocks.

        Args:
            x (Tensor): ``(B, H, W, C)``.

        Returns:
            Tensor: ``(B, H, W, C)``.
        """
        for block in self.blocks:
            x = block(x)
        return x


class DATBackboneBase(BaseModule):
    """What DAT and DAT++ (:class:`~mmdense.models.backbones.DATPlusPlus`) share: the ``arch``
    validation, the stage-argument checks and the forward over ``patch_embed``, ``stages``,
    ``downsamples`` and the output norms ``norm{i}``.

    Subclasses define ``arch_zoo`` and ``block_letters`` (the letters ``block_types`` may
    hold); their ``__init__`` calls :meth:`_init_settings` and sets ``out_norm``.
    """

    arch_zoo: dict = {}
    block_letters: tuple[str, ...] = ()
    _arch_keys = ('embed_dims', 'depths', 'num_heads', 'num_groups', 'block_types')

    @classmethod
    def _parse_arch(cls, arch: str | dict) -> dict:
        name = cls.__name__
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise ValueError(f'{name}: unknown arch {arch!r}; choose one of '
                                 f'{sorted(cls.arch_zoo)} or pass a dict.')
            return cls.arch_zoo[arch]
        if not isinstance(arch, dict):
            raise TypeError(f'{name}: arch must be a str or a dict, got {type(arch).__name__}.')
        missing = [k for k in cls._arch_keys if k not in arch]
        if missing:
            raise ValueError(f'{name}: the arch dict lacks the keys {missing}.')
        num_stages = len(arch['depths'])
        for key in cls._arch_keys:
            if len(arch[key]) != num_stages:
                raise ValueError(f'{name}: arch[{key!r}] has {len(arch[key])} entries, '
                                 f'expected {num_stages} (one per stage).')
        letters = cls.block_letters
        for i, (types, depth) in enumerate(zip(arch['block_types'], arch['depths'])):
            if len(types) != depth or any(t not in letters for t in types):
                raise ValueError(f'{name}: arch block_types[{i}]={types!r} must hold {depth} '
                                 f'letters out of {letters}.')
            if 'D' in types and arch['num_groups'][i] <= 0:
                raise ValueError(f'{name}: stage {i} has deformable blocks but num_groups='
                                 f'{arch["num_groups"][i]}.')
        return arch

    @classmethod
    def _check_stage_args(cls, num_stages: int, out_indices: Sequence[int],
                          **per_stage: Sequence) -> tuple[int, ...]:
        """Check ``out_indices`` and the per-stage sequences; return ``tuple(out_indices)``."""
        name = cls.__name__
        out_indices = tuple(out_indices)
        for i in out_indices:
            if not 0 <= i < num_stages:
                raise ValueError(
                    f'{name}: out_indices={out_indices} must lie in [0, {num_stages}).')
        for key, values in per_stage.items():
            if len(values) != num_stages:
                raise ValueError(f'{name}: {key} needs {num_stages} entries, got '
                                 f'{tuple(values)}.')
        return out_indices

    def _init_settings(self, arch: str | dict, in_channels: int, out_indices: Sequence[int],
                       **per_stage: Sequence) -> dict:
        """Validate the arguments and set ``in_channels``, ``embed_dims`` and ``out_indices``.

        Returns:
            dict: The arch settings (see :meth:`_parse_arch`).
        """
        settings = self._parse_arch(arch)
        num_stages = len(settings['depths'])
        self.out_indices = self._check_stage_args(num_stages, out_indices, **per_stage)
        self.in_channels = in_channels
        self.embed_dims = tuple(settings['embed_dims'])
        return settings

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Extract multi-scale features.

        Args:
            x (Tensor): Images ``(B, C, H, W)`` of any size.

        Returns:
            tuple[Tensor]: One ``(B, C_i, ceil(H / s_i), ceil(W / s_i))`` map per entry of
            ``out_indices``, with strides ``s_i`` = 4, 8, 16, 32.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects images of shape '
                             f'(B, {self.in_channels}, H, W), got {tuple(x.shape)}.')
        x = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downsamples[i - 1](x)
            x = stage(x)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x) if self.out_norm else x
                outs.append(out.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)


@MODELS.register_module()
class DAT(DATBackboneBase):
    """Deformable Attention Transformer (DAT v1) backbone.

    A re-implementation of LeapLabTHU/DAT @ 797f187f (``models/dat.py``, ``dat_blocks.py``,
    ``configs/dat_{tiny,small,base}.yaml``) for dense prediction. A 4x4 patch embedding is
    followed by four stages at strides 4/8/16/32, joined by 2x2 stride-2 convolutions (no bias)
    + LayerNorm. Stages 1-2 alternate local and shifted 7x7 window attention (shift 4), stages
    3-4 alternate local window and deformable attention.

    Differences from the classification code, none of which changes the outputs at 224x224:

    - Any input size works. Inputs and feature maps are zero-padded at the bottom/right to the
      patch and window sizes (outputs have ``ceil(H / stride)`` rows), shifted-window masks are
      built for the actual size (padded tokens are masked out), and the deformable bias table is
      sampled continuously, so no buffer depends on the input size.
    - The classifier (``cls_norm``, ``cls_head``) is not built.
    - ``out_norm=True`` (default) adds a LayerNorm on every output, as the official
      segmentation backbone (LeapLabTHU/DAT-Segmentation) and mmseg's Swin do; these norms are
      not in the ImageNet checkpoints and start at identity. ``out_norm=False`` returns the raw
      stage outputs, i.e. the official classification features (before ``down_projs``).

    Weights keep PyTorch's default initialisation and the bias tables a truncated normal with
    std 0.01, as in the official code (its ``reset_parameters()`` is a no-op). Modules are
    created in the official order, so ``torch.manual_seed(s); DAT(arch)`` draws the same
    weights as the official model built with the same seed.

    Official ImageNet checkpoints are converted with ``tools/model_converters/dat2mmdense.py``
    and loaded with ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

    Args:
        arch (str | dict): 'tiny', 'small', 'base', or a dict with the keys ``embed_dims``,
            ``depths``, ``num_heads``, ``num_groups`` and ``block_types`` (four entries each;
            ``block_types`` holds one letter 'L'/'S'/'D' per block).
        in_channels (int): Image channels. Defaults to 3.
        patch_size (int): Stride of the patch embedding. Defaults to 4.
        window_size (int): Window side of the local attention. Defaults to 7.
        mlp_ratio (int): FFN expansion. Defaults to 4.
        pretrain_img_size (int | tuple[int, int]): Input size of the pre-training. It sets the
            shape of the deformable bias tables (``2 * H_i - 1`` with ``H_i`` the stage size),
            which must match the checkpoint; it does not restrict the input size.
            Defaults to 224.
        offset_kernel_sizes (Sequence[int]): Depthwise kernel of the offset network per stage.
            Defaults to (9, 7, 5, 3).
        offset_range_factor (float): Offset bound of the deformable attention. Defaults to 2.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to
            (0, 1, 2, 3).
        out_norm (bool): Add a LayerNorm on every returned stage output. Defaults to True.
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
            embed_dims=(96, 192, 384, 768),
            depths=(2, 2, 6, 2),
            num_heads=(3, 6, 12, 24),
            num_groups=(-1, -1, 3, 6),
            block_types=('LS', 'LS', 'LD' * 3, 'LD')),
        'small': dict(
            embed_dims=(96, 192, 384, 768),
            depths=(2, 2, 18, 2),
            num_heads=(3, 6, 12, 24),
            num_groups=(-1, -1, 3, 6),
            block_types=('LS', 'LS', 'LD' * 9, 'LD')),
        'base': dict(
            embed_dims=(128, 256, 512, 1024),
            depths=(2, 2, 18, 2),
            num_heads=(4, 8, 16, 32),
            num_groups=(-1, -1, 4, 8),
            block_types=('LS', 'LS', 'LD' * 9, 'LD')),
    }
    block_letters = _BLOCK_TYPES

    def __init__(self,
                 arch: str | dict = 'tiny',
                 in_channels: int = 3,
                 patch_size: int = 4,
                 window_size: int = 7,
                 mlp_ratio: int = 4,
                 pretrain_img_size: int | tuple[int, int] = 224,
                 offset_kernel_sizes: Sequence[int] = (9, 7, 5, 3),
                 offset_range_factor: float = 2.,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_norm: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None,
                 with_cp: bool = False,
                 init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        settings = self._init_settings(arch, in_channels, out_indices,
                                       offset_kernel_sizes=offset_kernel_sizes)
        self.out_norm = out_norm
        norm_cfg = norm_cfg or dict(type='LN')
        act_cfg = act_cfg or dict(type='GELU')
        embed_dims, depths = settings['embed_dims'], settings['depths']
        num_stages = len(depths)

        self.patch_embed = DATPatchEmbed(in_channels, embed_dims[0], patch_size,
                                         norm_cfg=norm_cfg)

        dpr = [r.item() for r in torch.linspace(0, drop_path_rate, sum(depths))]
        fmap_h, fmap_w = (s // patch_size for s in to_2tuple(pretrain_img_size))
        self.stages = ModuleList()
        for i in range(num_stages):
            start = sum(depths[:i])
            self.stages.append(
                DATStage(
                    embed_dims=embed_dims[i],
                    block_types=settings['block_types'][i],
                    num_heads=settings['num_heads'][i],
                    num_groups=settings['num_groups'][i],
                    window_size=window_size,
                    rpe_table_size=(2 * fmap_h - 1, 2 * fmap_w - 1),
                    offset_kernel_size=offset_kernel_sizes[i],
                    offset_range_factor=offset_range_factor,
                    mlp_ratio=mlp_ratio,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rates=dpr[start:start + depths[i]],
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    with_cp=with_cp))
            fmap_h, fmap_w = fmap_h // 2, fmap_w // 2

        # Built after the stages, as in the official code (keeps the seeded weights equal).
        self.downsamples = ModuleList([
            DATPatchEmbed(embed_dims[i], embed_dims[i + 1], 2, bias=False, norm_cfg=norm_cfg,
                          channels_last_input=True) for i in range(num_stages - 1)
        ])

        if out_norm:
            for i in self.out_indices:
                self.add_module(f'norm{i}', build_norm_layer(norm_cfg, embed_dims[i])[1])
