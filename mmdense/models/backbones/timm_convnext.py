"""ConvNeXt backbones from timm, with DeepLab2's zero padding before every downsampling."""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdense.registry import MODELS

CONVNEXT_ARCHS = {
    'tiny': 'convnext_tiny',
    'small': 'convnext_small',
    'base': 'convnext_base',
    'large': 'convnext_large',
    'xlarge': 'convnext_xlarge',
}


@MODELS.register_module()
class TimmConvNeXt(BaseModule):
    """ConvNeXt (timm's implementation) returning the four stage outputs.

    kMaX-DeepLab's ConvNeXt (from DeepLab2) pads the input by (1, 2) pixels before the 4x4
    stem and by 1 pixel (bottom/right) before every 2x2 downsampling, so that odd sizes such
    as 1281 give 321/161/81/41 features like a ResNet; ``deeplab_padding`` enables this.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'``, ``'xlarge'`` or any timm
            ConvNeXt model name.
        drop_path_rate: stochastic depth rate (linearly increasing over blocks).
        layer_scale_init_value: initial layer-scale value.
        out_indices: stages to return.
        deeplab_padding: apply DeepLab2's zero padding (see above).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=...)`` with timm-layout weights
            (tools/model_converters/kmax2mmdense.py converts kMaX checkpoints).
    """

    def __init__(self,
                 arch: str = 'tiny',
                 drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 deeplab_padding: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        import timm
        name = CONVNEXT_ARCHS.get(arch, arch)
        if not name.startswith('convnext'):
            raise ValueError(f'unknown ConvNeXt arch {arch!r}; use one of '
                             f'{sorted(CONVNEXT_ARCHS)} or a timm convnext model name')
        model = timm.create_model(name, pretrained=False, num_classes=0,
                                  drop_path_rate=drop_path_rate,
                                  ls_init_value=layer_scale_init_value)
        self.stem = model.stem
        self.stages = model.stages
        self.out_indices = tuple(out_indices)
        self.deeplab_padding = deeplab_padding
        self.out_channels = [model.feature_info[i]['num_chs'] for i in range(len(self.stages))]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.deeplab_padding:
            x = F.pad(x, (1, 2, 1, 2))
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            if i > 0 and self.deeplab_padding:
                # The pad precedes the downsampling LayerNorm, as in DeepLab2.
                x = F.pad(x, (0, 1, 0, 1))
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return outs
