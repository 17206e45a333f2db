"""mmseg's ResNet that also returns its stem output (kMaX-DeepLab's Cityscapes model)."""
import torch
from mmseg.models.backbones import ResNet

from mmdense.registry import MODELS


@MODELS.register_module()
class ResNetWithStem(ResNet):
    """mmseg ``ResNet`` whose outputs start with the stem feature.

    detectron2's ResNet can return ``stem``: the output of conv1, norm, ReLU and the 3x3
    max pool, at stride 4 with ``stem_channels`` (64) channels. The official kMaX-DeepLab
    Cityscapes model feeds it to its pixel decoder (``OUT_FEATURES: [stem, res2, res3, res4,
    res5]``). Modules and state-dict keys are those of ``ResNet``, so pretrained and converted
    weights load unchanged; only :meth:`forward` differs.

    Args:
        *args: see mmseg's ``ResNet``.
        **kwargs: see mmseg's ``ResNet``.
    """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the stem output followed by the stages listed in ``out_indices``."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = [x]
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
