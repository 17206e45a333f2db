"""MPViT backbone: "MPViT: Multi-Path Vision Transformer for Dense Prediction" (CVPR 2022).

Reimplementation of the official segmentation backbone (youngwanLEE/MPViT,
``semantic_segmentation/backbone/mpvit.py``) with batched multi-path encoders. Official
ImageNet checkpoints are converted with ``tools/model_converters/mpvit2mmdense.py``.
"""
from collections.abc import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmdense.registry import MODELS

from .mpvit_layers import ConvBN, MHCAStage, MultiScalePatchEmbed

_ARCH_KEYS = ('num_paths', 'num_layers', 'embed_dims', 'mlp_ratios', 'num_heads')


@MODELS.register_module()
class MPViT(BaseModule):
    """Multi-Path Vision Transformer.

    A conv stem (two 3x3 stride-2 ConvBN + Hardswish) is followed by four stages. Each stage
    embeds its input with chained depthwise-separable 3x3 convs (3x3/5x5/7x7 receptive fields
    at one sequence length), runs one transformer encoder per path (CoaT factorized attention
    with convolutional relative position encoding) next to a local inverted-residual path, and
    aggregates all paths with a 1x1 ConvBN + Hardswish. Stage ``i`` outputs
    ``embed_dims[i + 1]`` channels (the last stage keeps ``embed_dims[-1]``) at stride
    ``4 * 2**i``; there is no output norm.

    Args:
        arch (str | dict): ``'tiny'``, ``'xsmall'``, ``'small'``, ``'base'`` (or ``'t'``,
            ``'xs'``, ``'s'``, ``'b'``), or a dict with the keys ``num_paths``, ``num_layers``,
            ``embed_dims``, ``mlp_ratios`` and ``num_heads`` (one entry per stage).
            Defaults to ``'small'``.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to
            ``(0, 1, 2, 3)``.
        drop_path_rate (float): Stochastic depth rate, increased linearly over all encoder
            layers. Defaults to 0.
        crpe_window (dict[int, int], optional): Window size -> number of heads of the conv
            relative position encoding; the heads must add up to each stage's ``num_heads``.
            Defaults to ``{3: 2, 5: 3, 7: 3}``.
        norm_cfg (dict, optional): Normalisation of the convolutional parts. Defaults to
            ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep the normalisation layers in eval mode (frozen statistics) during
            training. Defaults to False.
        with_cp (bool): Gradient checkpointing of the encoder layers. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config, e.g.
            ``dict(type='Pretrained', checkpoint=...)`` for a converted ImageNet checkpoint.
            Without one, ``init_weights`` applies the official initialisation.
    """

    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(
            num_paths=[2, 3, 3, 3], num_layers=[1, 2, 4, 1], embed_dims=[64, 96, 176, 216],
            mlp_ratios=[2, 2, 2, 2], num_heads=[8, 8, 8, 8])),
        **dict.fromkeys(['xs', 'xsmall'], dict(
            num_paths=[2, 3, 3, 3], num_layers=[1, 2, 4, 1], embed_dims=[64, 128, 192, 256],
            mlp_ratios=[4, 4, 4, 4], num_heads=[8, 8, 8, 8])),
        **dict.fromkeys(['s', 'small'], dict(
            num_paths=[2, 3, 3, 3], num_layers=[1, 3, 6, 3], embed_dims=[64, 128, 216, 288],
            mlp_ratios=[4, 4, 4, 4], num_heads=[8, 8, 8, 8])),
        **dict.fromkeys(['b', 'base'], dict(
            num_paths=[2, 3, 3, 3], num_layers=[1, 3, 8, 3], embed_dims=[128, 224, 368, 480],
            mlp_ratios=[4, 4, 4, 4], num_heads=[8, 8, 8, 8])),
    }

    def __init__(self,
                 arch: str | dict = 'small',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 drop_path_rate: float = 0.,
                 crpe_window: dict[int, int] | None = None,
                 norm_cfg: dict | None = None,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = norm_cfg or dict(type='BN', requires_grad=True)
        arch = self._parse_arch(arch)
        num_stages = len(arch['embed_dims'])
        crpe_window = dict(crpe_window or {3: 2, 5: 3, 7: 3})
        for heads in arch['num_heads']:
            if sum(crpe_window.values()) != heads:
                raise ValueError(
                    f'MPViT: crpe_window {crpe_window} splits {sum(crpe_window.values())} '
                    f'heads but a stage has num_heads={heads}')
        for dims, heads in zip(arch['embed_dims'], arch['num_heads']):
            if dims % heads:
                raise ValueError(
                    f'MPViT: embed_dims {dims} is not divisible by num_heads {heads}')
        out_indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for idx in out_indices:
            if not 0 <= idx < num_stages:
                raise ValueError(
                    f'MPViT: out_indices {tuple(out_indices)} must lie in [0, {num_stages})')
        self.out_indices = tuple(out_indices)
        self.norm_eval = norm_eval
        self.arch = arch
        embed_dims = arch['embed_dims']
        self.out_channels = [embed_dims[min(i + 1, num_stages - 1)] for i in range(num_stages)]

        # Linear stochastic depth over all encoder layers (shared by the paths of a layer).
        num_layers = arch['num_layers']
        rates = torch.linspace(0, drop_path_rate, sum(num_layers)).tolist()
        stage_rates = [rates[sum(num_layers[:i]):sum(num_layers[:i + 1])]
                       for i in range(num_stages)]

        # Creation order (stem, every patch embedding, every MHCA stage) follows the official
        # code so that seeded builds draw the same default initialisations.
        hswish = dict(type='HSwish')
        self.stem = nn.Sequential(
            ConvBN(in_channels, embed_dims[0] // 2, 3, 2, 1, norm_cfg=norm_cfg, act_cfg=hswish),
            ConvBN(embed_dims[0] // 2, embed_dims[0], 3, 2, 1, norm_cfg=norm_cfg,
                   act_cfg=hswish))
        self.patch_embed_stages = nn.ModuleList([
            MultiScalePatchEmbed(embed_dims[i], arch['num_paths'][i], downsample=i > 0,
                                 norm_cfg=norm_cfg) for i in range(num_stages)
        ])
        self.mhca_stages = nn.ModuleList([
            MHCAStage(embed_dims[i], self.out_channels[i], arch['num_paths'][i], num_layers[i],
                      arch['num_heads'][i], arch['mlp_ratios'][i], stage_rates[i], crpe_window,
                      norm_cfg=norm_cfg, with_cp=with_cp) for i in range(num_stages)
        ])

    def _parse_arch(self, arch: str | dict) -> dict:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in self.arch_zoo:
                raise ValueError(f'MPViT: unknown arch {arch!r}; choose one of '
                                 f'{sorted(set(self.arch_zoo))} or pass a dict')
            return {k: list(v) for k, v in self.arch_zoo[key].items()}
        if not isinstance(arch, dict):
            raise TypeError(f'MPViT: arch must be a str or a dict, got {type(arch).__name__}')
        missing = [k for k in _ARCH_KEYS if k not in arch]
        if missing:
            raise ValueError(f'MPViT: arch dict lacks {missing} (needs {list(_ARCH_KEYS)})')
        arch = {k: list(arch[k]) for k in _ARCH_KEYS}
        lengths = {len(v) for v in arch.values()}
        if len(lengths) != 1:
            raise ValueError(f'MPViT: arch entries must have one value per stage, got {arch}')
        return arch

    def init_weights(self) -> None:
        """Official init (linear weights ~ TN(0, .02), zero bias; LN 1/0), or ``init_cfg``.

        Conv weights keep the initialisation drawn at construction, as in the official code.
        """
        if self.init_cfg is not None:
            super().init_weights()
            return
        for stage in self.mhca_stages:
            stage.encoders.init_transformer_weights()

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        # Channels-last end to end: the encoders read and write this layout without copies.
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        outs = []
        for i, (embed, stage) in enumerate(zip(self.patch_embed_stages, self.mhca_stages)):
            x = stage(embed(x))
            if i in self.out_indices:
                outs.append(x.contiguous())
        return tuple(outs)

    def train(self, mode: bool = True) -> 'MPViT':
        """Set train mode, keeping normalisation layers in eval mode if ``norm_eval``."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
