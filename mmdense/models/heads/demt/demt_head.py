"""DeMT head: `Deformable Mixer Transformer for Multi-Task Learning of Dense Prediction
<https://arxiv.org/abs/2301.03461>`_ (AAAI 2023)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmdense.registry import MODELS

from .layers import DeformableMixer, TaskInteraction, TaskQuery


@MODELS.register_module()
class DeMTHead(BaseModule):
    """Multi-task head of DeMT.

    The multi-scale features are upsampled to the first one's size, concatenated and projected
    by ``Linear + LN`` to ``channels``. Per task, a deformable mixer (1x1 conv, then a 1x1
    deformable conv with one offset per channel) gives task tokens; the task-interaction block
    fuses every task's tokens, and each task's task-query block lets its tokens attend over the
    fused tokens of all tasks at the same pixel. A 3x3 ConvBNReLU and a 1x1 conv give the
    task logits, at the resolution of the first input.

    The outputs equal the official ``DemtHead`` run on each image alone. The official code
    runs its attentions over the batch axis, so batches of several images mix there; see
    :mod:`mmdense.models.heads.demt.layers`. Official weights load after conversion with
    ``tools/model_converters/demt2mmdense.py``.

    Args:
        in_channels: channels of the input features.
        tasks: task names, e.g. ``['semseg', 'depth', 'normals', 'edge']``.
        task_channels: output channels of every task, e.g.
            ``dict(semseg=40, depth=1, normals=3, edge=1)``.
        channels: token channels. Default: 256.
        num_heads: attention heads. Default: 4.
        num_mixer_layers: deformable mixer layers per task. Default: 1.
        bottleneck_channels: channels of the 3x3 conv before the logits. Default:
            ``sum(in_channels) // 8`` as in DeMT.
        in_index: which backbone outputs to use. Default: all.
        norm_cfg: norm of the mixers and the 3x3 conv. Default: ``dict(type='BN')``.
        act_cfg: activation of the mixers. Default: ``dict(type='GELU')``.
        align_corners: ``align_corners`` of the input upsampling. Default: False.
        deform_impl: ``'sample'`` (fast) or ``'torchvision'`` (reference) deformable conv.
        init_cfg: initialisation config. Default None: the official initialisation (PyTorch
            defaults, logits conv ~ N(0, 0.01) with zero bias, zero offset-conv weights).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 tasks: Sequence[str],
                 task_channels: dict[str, int],
                 channels: int = 256,
                 num_heads: int = 4,
                 num_mixer_layers: int = 1,
                 bottleneck_channels: int | None = None,
                 in_index: Sequence[int] | None = None,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None,
                 align_corners: bool = False,
                 deform_impl: str = 'sample',
                 init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = norm_cfg or dict(type='BN')
        act_cfg = act_cfg or dict(type='GELU')
        self.tasks = list(tasks)
        if not self.tasks:
            raise ValueError('DeMTHead: `tasks` is empty.')
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f'DeMTHead: `tasks` has duplicates: {self.tasks}')
        missing = [t for t in self.tasks if t not in task_channels]
        if missing:
            raise ValueError(f'DeMTHead: `task_channels` has no entry for tasks {missing} '
                             f'(got {sorted(task_channels)}).')
        if channels % num_heads:
            raise ValueError(f'DeMTHead: channels ({channels}) must be divisible by '
                             f'num_heads ({num_heads}).')
        self.in_channels = list(in_channels)
        self.in_index = list(range(len(self.in_channels))) if in_index is None else list(in_index)
        if len(self.in_index) != len(self.in_channels):
            raise ValueError(f'DeMTHead: in_index {self.in_index} and in_channels '
                             f'{self.in_channels} must have the same length.')
        self.task_channels = {t: int(task_channels[t]) for t in self.tasks}
        self.channels = channels
        self.num_heads = num_heads
        self.align_corners = align_corners
        bottleneck_channels = bottleneck_channels or sum(self.in_channels) // 8

        self.input_proj = nn.Linear(sum(self.in_channels), channels)
        self.input_norm = nn.LayerNorm(channels)
        self.mixers = nn.ModuleDict({
            t: DeformableMixer(channels, num_mixer_layers, norm_cfg, act_cfg, deform_impl)
            for t in self.tasks
        })
        self.task_interaction = TaskInteraction(channels, num_heads)
        self.task_queries = nn.ModuleDict({t: TaskQuery(channels, num_heads) for t in self.tasks})
        self.task_convs = nn.ModuleDict({
            t: ConvModule(channels, bottleneck_channels, 3, padding=1, norm_cfg=norm_cfg,
                          act_cfg=dict(type='ReLU'))
            for t in self.tasks
        })
        self.conv_logits = nn.ModuleDict({
            t: nn.Conv2d(bottleneck_channels, self.task_channels[t], 1) for t in self.tasks
        })
        self._official_init()

    def _official_init(self) -> None:
        # ConvModule re-initialises its conv with kaiming; DeMT keeps PyTorch's default there.
        for conv in self.task_convs.values():
            conv.conv.reset_parameters()
        for conv in self.conv_logits.values():
            nn.init.normal_(conv.weight, 0, 0.01)
            nn.init.zeros_(conv.bias)
        for mixer in self.mixers.values():
            for layer in mixer.layers:
                nn.init.zeros_(layer.spatial_conv.offset_conv.weight)

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            self._official_init()

    def project_inputs(self, inputs: Sequence[Tensor]) -> Tensor:
        """Upsample, concatenate and project the inputs: ``(B, channels, H, W)``.

        ``Linear(concat(up(f_i)))`` is computed as ``sum_i up(W_i f_i) + b``: bilinear
        resizing is a convex combination of pixels, so it commutes with the per-pixel linear
        map, and projecting at each input's own resolution is much cheaper.
        """
        feats = [inputs[i] for i in self.in_index]
        for f, c in zip(feats, self.in_channels):
            if f.shape[1] != c:
                raise ValueError(f'DeMTHead: expected inputs with channels {self.in_channels}, '
                                 f'got {[f.shape[1] for f in feats]}.')
        size = feats[0].shape[2:]
        weights = self.input_proj.weight.split(self.in_channels, dim=1)
        x = None
        for f, w in zip(feats, weights):
            y = F.conv2d(f, w[:, :, None, None])
            if y.shape[2:] != size:
                y = F.interpolate(y, size=size, mode='bilinear',
                                  align_corners=self.align_corners)
            x = y if x is None else x + y
        x = x.permute(0, 2, 3, 1) + self.input_proj.bias
        # One NCHW copy here saves one per task in the mixers' matmuls.
        return self.input_norm(x).permute(0, 3, 1, 2).contiguous()

    def forward(self, inputs: Sequence[Tensor]) -> dict[str, Tensor]:
        """Task logits at the resolution of the first input feature.

        Args:
            inputs: multi-scale features ``(B, C_i, H_i, W_i)``.

        Returns:
            dict: ``{task: (B, task_channels[task], H_0, W_0)}``.
        """
        x = self.project_inputs(inputs)
        b, c, h, w = x.shape
        # Tokens are pixels: (B*H*W, C), read from NCHW maps without a copy.
        mixed = [self.mixers[t](x).permute(0, 2, 3, 1).reshape(-1, c) for t in self.tasks]
        fused = torch.stack([self.task_interaction(m) for m in mixed], dim=1)
        logits = {}
        for t, m in zip(self.tasks, mixed):
            y = self.task_queries[t](m, fused).view(b, h, w, c).permute(0, 3, 1, 2)
            logits[t] = self.conv_logits[t](self.task_convs[t](y))
        return logits
