"""Pixel-wise cross-entropy with ignored pixels, optionally class-balanced (DeMT's losses)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmseg.models.losses import CrossEntropyLoss
from mmseg.models.losses.cross_entropy_loss import cross_entropy
from torch import Tensor

from mmdense.registry import MODELS


@MODELS.register_module()
class DenseCrossEntropyLoss(CrossEntropyLoss):
    """Cross-entropy averaged over the labelled pixels: mmseg's
    ``CrossEntropyLoss(avg_non_ignore=True)`` plus DeMT's class-balanced mode.

    ``loss = sum_valid w[y] * CE(pred, y) / n_valid``: the sum of the (optionally class-weighted)
    per-pixel losses divided by the number of labelled pixels, as DeMT's ``CrossEntropyLoss``.
    Without class weights this is mmseg's loss with ``avg_non_ignore=True``, which this class
    runs (the ignore label is fixed here, where mmseg's heads pass theirs at each call). With
    class weights mmseg would divide by the summed weights of the labelled pixels, so the
    divisor ``n_valid`` is passed as mmseg's ``avg_factor`` (this also spares mmseg's
    host-synchronising ``.item()``).

    Args:
        ignore_index: label of unlabelled pixels. Default: 255.
        class_weight: fixed per-class weights. Default: None.
        balanced: for 2-class labels (saliency), weight the classes by the other class's
            frequency in the batch: ``w = (n_pos / n, n_neg / n)``. Default: False.
        loss_weight: multiplier of the loss. Default: 1.0.
    """

    def __init__(self, ignore_index: int = 255, class_weight: Sequence[float] | None = None,
                 balanced: bool = False, loss_weight: float = 1.0) -> None:
        if balanced and class_weight is not None:
            raise ValueError('DenseCrossEntropyLoss: `balanced` and `class_weight` exclude '
                             'each other.')
        super().__init__(
            class_weight=None if class_weight is None else [float(w) for w in class_weight],
            loss_weight=loss_weight, avg_non_ignore=True)
        self.ignore_index = ignore_index
        self.balanced = balanced

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
        if not self.balanced:
            return super().forward(pred, target, avg_factor=n_valid,
                                   ignore_index=self.ignore_index)
        if pred.shape[1] != 2:
            raise ValueError('DenseCrossEntropyLoss(balanced=True) needs 2-class logits, '
                             f'got {pred.shape[1]} channels.')
        labels = target[valid]
        if labels.numel() and int(labels.max()) > 1:
            raise ValueError('DenseCrossEntropyLoss(balanced=True) needs {0, 1} labels, '
                             f'got label {int(labels.max())}.')
        w_pos = (1.0 - labels.float()).sum() / n_valid.clamp(min=1)
        weight = torch.stack([1.0 - w_pos, w_pos]).to(pred.dtype)
        return self.loss_weight * cross_entropy(
            pred, target, class_weight=weight, avg_factor=n_valid,
            ignore_index=self.ignore_index, avg_non_ignore=True)
