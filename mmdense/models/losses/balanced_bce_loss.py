"""Class-balanced binary cross-entropy with ignored pixels (DeMT's edge loss)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdense.registry import MODELS


@MODELS.register_module()
class BalancedBinaryCrossEntropyLoss(nn.Module):
    """HED-style balanced BCE on logits, averaged over the labelled pixels.

    ``loss = mean_valid[ -w y log(s) - (1 - w) (1 - y) log(1 - s) ]`` with ``s = sigmoid(x)``.
    With ``pos_weight=None`` the weight is the batch's fraction of negative pixels (the loss is
    0 when there is no positive pixel), as DeMT's ``BalancedBinaryCrossEntropyLoss``.
    DeMT uses ``pos_weight`` 0.8 on NYUD and 0.95 on PASCAL-Context edges.

    Args:
        pos_weight: weight ``w`` of the positive pixels in [0, 1). Default: None (adaptive).
        ignore_index: label of unlabelled pixels. Default: 255.
        loss_weight: multiplier of the loss. Default: 1.0.
    """

    def __init__(self, pos_weight: float | None = None, ignore_index: int = 255,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if pos_weight is not None and not 0 <= pos_weight < 1:
            raise ValueError(f'BalancedBinaryCrossEntropyLoss: pos_weight must be in [0, 1), '
                             f'got {pos_weight}.')
        self.pos_weight = pos_weight
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Args:
            pred: ``(B, 1, H, W)`` logits.
            target: ``(B, 1, H, W)`` labels in {0, 1} (``ignore_index`` elsewhere).

        Returns:
            Tensor: the scalar loss (times ``loss_weight``).
        """
        if pred.shape != target.shape:
            raise ValueError(f'BalancedBinaryCrossEntropyLoss: prediction {tuple(pred.shape)} '
                             f'and target {tuple(target.shape)} shapes differ.')
        valid = target != self.ignore_index
        n_valid = valid.sum()
        label = torch.where(valid, target, torch.zeros_like(target)).to(pred.dtype)
        if self.pos_weight is None:
            w = ((1.0 - label) * valid).sum() / n_valid.clamp(min=1)
            if n_valid == 0 or w == 1:
                return pred.sum() * 0
        else:
            w = pred.new_tensor(self.pos_weight)
        # -w y log s - (1 - w)(1 - y) log(1 - s), with log s = -softplus(-x).
        loss = w * label * F.softplus(-pred) + (1 - w) * (1 - label) * F.softplus(pred)
        return self.loss_weight * (loss * valid).sum() / n_valid.clamp(min=1)
