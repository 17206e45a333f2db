"""The two cross-entropy losses of openseg (``lib/loss/loss_helper.py`` of openseg.pytorch, used
by the official HRFormer segmentation code): OHEM cross-entropy averaged over the kept pixels,
and PyTorch's class-weighted mean cross-entropy.

Both compute the loss image by image and average the images: the official runs put one image
on each GPU (Cityscapes: 8 GPUs x 1), where each GPU's loss is that image's loss and DDP averages
the gradients. Per-image losses give the same objective whatever the GPU split of mmdense.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdense.registry import MODELS


def _check_inputs(name: str, pred: Tensor, target: Tensor,
                  class_weight: Sequence[float] | None) -> Tensor:
    """Return ``target`` as ``(B, H, W)`` long labels; raise on shapes that do not fit."""
    if target.dim() == 4 and target.shape[1] == 1:
        target = target.squeeze(1)
    if pred.dim() != 4 or target.shape != (pred.shape[0], *pred.shape[2:]):
        raise ValueError(f'{name}: logits must be (B, K, H, W) and labels (B, H, W) of the same '
                         f'B, H, W; got {tuple(pred.shape)} and {tuple(target.shape)}.')
    if class_weight is not None and len(class_weight) != pred.shape[1]:
        raise ValueError(f'{name}: class_weight has {len(class_weight)} entries for '
                         f'{pred.shape[1]} classes.')
    return target.long()


def _pixel_losses(pred: Tensor, target: Tensor, class_weight: Sequence[float] | None,
                  ignore_index: int) -> tuple[Tensor, Tensor | None]:
    """Per-pixel ``w[y] * CE`` in float32 (0 on ignored pixels) and the weight tensor."""
    pred = pred.float()
    weight = None if class_weight is None else pred.new_tensor(class_weight)
    loss = F.cross_entropy(pred, target, weight=weight, ignore_index=ignore_index,
                           reduction='none')
    return loss, weight


@MODELS.register_module()
class OhemCrossEntropyLoss(nn.Module):
    """Online hard example mining cross-entropy, averaged over the kept pixels.

    openseg's ``FSOhemCELoss``: per image, the labelled pixels are sorted by the softmax
    probability of their true class; with ``t = max(p_sorted[min(min_kept, n - 1)], thresh)``
    the pixels with ``p < t`` are kept (at least about ``min_kept`` of them when enough are
    labelled, all the hard ones otherwise), and the loss is ``sum_kept w[y] * CE / n_kept``.
    mmseg's ``OHEMPixelSampler`` keeps the same pixels but its ``CrossEntropyLoss`` divides by all
    pixels, which weakens the loss (and its balance against an auxiliary loss) as fewer pixels
    are kept.

    The official code also always puts the first pixel of the batch into the sort, ignored or
    not (an ignored one would add 0 to the sum and 1 to the count); that guard against an empty
    selection is not reproduced: an image without labelled pixels adds 0 here.

    Args:
        thresh: probability below which a pixel counts as hard. Default: 0.7.
        min_kept: the number of pixels kept at least, per image. Default: 100000.
        class_weight: per-class weights ``w`` (openseg's ``ce_weight``). Default: None.
        ignore_index: label of unlabelled pixels. Default: 255.
        loss_weight: multiplier of the loss. Default: 1.0.
        loss_name: name of the loss item (must start with ``loss_``). Default: 'loss_ohem_ce'.
    """

    def __init__(self, thresh: float = 0.7, min_kept: int = 100000,
                 class_weight: Sequence[float] | None = None, ignore_index: int = 255,
                 loss_weight: float = 1.0, loss_name: str = 'loss_ohem_ce') -> None:
        super().__init__()
        if not 0.0 < thresh <= 1.0:
            raise ValueError(f'OhemCrossEntropyLoss: thresh must be in (0, 1], got {thresh}.')
        if min_kept < 0:
            raise ValueError(f'OhemCrossEntropyLoss: min_kept must be >= 0, got {min_kept}.')
        if not loss_name.startswith('loss_'):
            raise ValueError(f"OhemCrossEntropyLoss: loss_name must start with 'loss_' to be "
                             f'optimised, got {loss_name!r}.')
        self.thresh = float(thresh)
        # openseg: `max(1, ohem_minkeep)`
        self.min_kept = max(1, int(min_kept))
        self.class_weight = None if class_weight is None else [float(w) for w in class_weight]
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the loss dict."""
        return self._loss_name

    def kept_mask(self, pred: Tensor, target: Tensor) -> Tensor:
        """The pixels the loss averages over, ``(B, H, W)`` bool.

        Args:
            pred: ``(B, K, H, W)`` logits.
            target: ``(B, H, W)`` labels.

        Returns:
            Tensor: True on the kept (hard, labelled) pixels.
        """
        target = _check_inputs(type(self).__name__, pred, target, self.class_weight)
        valid = target != self.ignore_index
        with torch.no_grad():
            prob = pred.detach().float().softmax(dim=1)
            true_prob = prob.gather(1, target.masked_fill(~valid, 0).unsqueeze(1)).squeeze(1)
            kept = torch.zeros_like(valid)
            for i in range(target.shape[0]):
                probs = true_prob[i][valid[i]]
                if probs.numel() == 0:
                    continue
                sorted_probs = probs.sort().values
                threshold = max(float(sorted_probs[min(self.min_kept, probs.numel() - 1)]),
                                self.thresh)
                kept[i] = valid[i] & (true_prob[i] < threshold)
        return kept

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                ignore_index: int | None = None, **kwargs) -> Tensor:
        """Args:
            pred: ``(B, K, H, W)`` logits.
            target: ``(B, H, W)`` or ``(B, 1, H, W)`` labels.
            weight: per-pixel weights from a sampler; must be None (this loss selects the
                pixels itself).
            ignore_index: the decode head's ignore index; must equal this loss's if given.

        Returns:
            Tensor: the scalar loss (times ``loss_weight``).
        """
        if weight is not None:
            raise ValueError('OhemCrossEntropyLoss selects its pixels itself: remove the '
                             "decode head's `sampler` (got per-pixel weights).")
        if ignore_index is not None and ignore_index != self.ignore_index:
            raise ValueError(f'OhemCrossEntropyLoss: ignore_index {self.ignore_index} differs '
                             f"from the decode head's {ignore_index}.")
        target = _check_inputs(type(self).__name__, pred, target, self.class_weight)
        kept = self.kept_mask(pred, target)
        loss, _ = _pixel_losses(pred, target, self.class_weight, self.ignore_index)
        kept_f = kept.to(loss.dtype)
        per_image = (loss * kept_f).flatten(1).sum(1) / kept_f.flatten(1).sum(1).clamp(min=1)
        return self.loss_weight * per_image.mean()


@MODELS.register_module()
class WeightedMeanCrossEntropyLoss(nn.Module):
    """Cross-entropy with PyTorch's weighted mean, per image: ``sum w[y] CE / sum w[y]``.

    openseg's ``FSCELoss`` (``nn.CrossEntropyLoss(weight, ignore_index, 'mean')``), which the
    official code uses for the auxiliary head and for the plain-CE recipes. mmseg's
    ``CrossEntropyLoss`` divides by the number of pixels instead (all of them, or the labelled
    ones with ``avg_non_ignore=True``), which differs from this as soon as classes are weighted.
    Without class weights this is the mean over the labelled pixels of each image.

    Args:
        class_weight: per-class weights ``w``. Default: None.
        ignore_index: label of unlabelled pixels. Default: 255.
        loss_weight: multiplier of the loss. Default: 1.0.
        loss_name: name of the loss item (must start with ``loss_``). Default: 'loss_ce'.
    """

    def __init__(self, class_weight: Sequence[float] | None = None, ignore_index: int = 255,
                 loss_weight: float = 1.0, loss_name: str = 'loss_ce') -> None:
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f"WeightedMeanCrossEntropyLoss: loss_name must start with 'loss_' "
                             f'to be optimised, got {loss_name!r}.')
        self.class_weight = None if class_weight is None else [float(w) for w in class_weight]
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the loss dict."""
        return self._loss_name

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                ignore_index: int | None = None, **kwargs) -> Tensor:
        """Args:
            pred: ``(B, K, H, W)`` logits.
            target: ``(B, H, W)`` or ``(B, 1, H, W)`` labels.
            weight: per-pixel weights; must be None.
            ignore_index: the decode head's ignore index; must equal this loss's if given.

        Returns:
            Tensor: the scalar loss (times ``loss_weight``).
        """
        if weight is not None:
            raise ValueError('WeightedMeanCrossEntropyLoss takes no per-pixel weights: remove '
                             "the decode head's `sampler`.")
        if ignore_index is not None and ignore_index != self.ignore_index:
            raise ValueError(f'WeightedMeanCrossEntropyLoss: ignore_index {self.ignore_index} '
                             f"differs from the decode head's {ignore_index}.")
        target = _check_inputs(type(self).__name__, pred, target, self.class_weight)
        loss, class_weight = _pixel_losses(pred, target, self.class_weight, self.ignore_index)
        valid = target != self.ignore_index
        if class_weight is None:
            pixel_weight = valid.to(loss.dtype)
        else:
            pixel_weight = class_weight[target.masked_fill(~valid, 0)] * valid
        denom = pixel_weight.flatten(1).sum(1)
        per_image = loss.flatten(1).sum(1) / denom.clamp(min=torch.finfo(denom.dtype).tiny)
        return self.loss_weight * per_image.mean()
