"""L1 loss over labelled pixels, optionally on unit vectors (DeMT's depth and normals losses)."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdense.registry import MODELS


@MODELS.register_module()
class MaskedL1Loss(nn.Module):
    """L1 loss summed over the channels and averaged over the labelled pixels.

    ``loss = sum_{valid pixels, channels} |pred - target| / n_valid_pixels``, as DeMT's
    ``L1Loss``: for surface normals the three channel errors of a pixel add up.
    A pixel is unlabelled when **all** its channels equal ``ignore_value`` (0 for depth and for
    the zero normal vector in mmdense's data contract; DeMT's 255 padding also fills every
    channel, so the rule matches it).

    Args:
        normalize: L2-normalise the prediction over the channels first (normals). Default: False.
        ignore_value: value of unlabelled pixels. Default: 0.0.
        loss_weight: multiplier of the loss. Default: 1.0.
    """

    def __init__(self, normalize: bool = False, ignore_value: float = 0.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.normalize = normalize
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Args:
            pred: ``(B, C, H, W)`` prediction.
            target: ``(B, C, H, W)`` ground truth (same shape).

        Returns:
            Tensor: the scalar loss (times ``loss_weight``).
        """
        if pred.shape != target.shape:
            raise ValueError(f'MaskedL1Loss: prediction {tuple(pred.shape)} and target '
                             f'{tuple(target.shape)} shapes differ.')
        if self.normalize:
            pred = F.normalize(pred, p=2, dim=1)
        target = target.to(pred.dtype)
        valid = (target != self.ignore_value).any(dim=1, keepdim=True)
        err = (pred - target).abs() * valid
        return self.loss_weight * err.sum() / valid.sum().clamp(min=1)
