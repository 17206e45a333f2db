"""Pixel-wise cross-entropy with ignored pixels, optionally class-balanced (DeMT's losses)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdense.registry import MODELS


@MODELS.register_module()
class DenseCrossEntropyLoss(nn.Module):
    """Cross-entropy averaged over the labelled pixels.

    ``loss = sum_valid w[y] * CE(pred, y) / n_valid``: the sum of the (optionally class-weighted)
    per-pixel losses divided by the number of labelled pixels, as DeMT's ``CrossEntropyLoss``
    (not divided by the sum of the weights as ``F.cross_entropy(reduction='mean')`` would).

    Args:
        ignore_index: label of unlabelled pixels. Default: 255.
        class_weight: fixed per-class weights. Default: None.
        balanced: for 2-class labels (saliency), weight the classes by the other class's
            frequency in the batch: ``w = (n_pos / n, n_neg / n)``. Default: False.
        loss_weight: multiplier of the loss. Default: 1.0.
    """

    def __init__(self, ignore_index: int = 255, class_weight: Sequence[float] | None = None,
                 balanced: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__()
        if balanced and class_weight is not None:
            raise ValueError('DenseCrossEntropyLoss: `balanced` and `class_weight` exclude '
                             'each other.')
        self.ignore_index = ignore_index
        self.class_weight = None if class_weight is None else [float(w) for w in class_weight]
        self.balanced = balanced
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Args:
            pred: ``(B, K, H, W)`` logits.
            target: ``(B, 1, H, W)`` or ``(B, H, W)`` labels.

        Returns:
            Tensor: the scalar loss (times ``loss_weight``).
        """
        if target.dim() == 4:
            target = target.squeeze(1)
        target = target.long()
        valid = target != self.ignore_index
        n_valid = valid.sum()
        weight = None
        if self.balanced:
            if pred.shape[1] != 2:
                raise ValueError('DenseCrossEntropyLoss(balanced=True) needs 2-class logits, '
                                 f'got {pred.shape[1]} channels.')
            labels = target[valid]
            if labels.numel() and int(labels.max()) > 1:
                raise ValueError('DenseCrossEntropyLoss(balanced=True) needs {0, 1} labels, '
                                 f'got label {int(labels.max())}.')
            w_pos = (1.0 - labels.float()).sum() / n_valid.clamp(min=1)
            weight = torch.stack([1.0 - w_pos, w_pos]).to(pred.dtype)
        elif self.class_weight is not None:
            weight = pred.new_tensor(self.class_weight)
        loss = F.cross_entropy(pred, target, weight=weight, ignore_index=self.ignore_index,
                               reduction='none')
        return self.loss_weight * loss.sum() / n_valid.clamp(min=1)
