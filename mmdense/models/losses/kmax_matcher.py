"""Hungarian matching of kMaX-DeepLab cluster centres to ground-truth segments."""

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from mmdense.registry import TASK_UTILS


@torch.no_grad()
def mask_similarity(pred: torch.Tensor, target: torch.Tensor,
                    masking_void_pixel: bool = True) -> torch.Tensor:
    """Dice similarity between softmax-over-masks predictions and target masks.

    Args:
        pred: (N, HW) mask logits of one image.
        target: (M, HW) binary target masks.
        masking_void_pixel: drop pixels covered by no target from the predictions.

    Returns:
        Tensor: (N, M) similarities in [0, 1].
    """
    prob = F.softmax(pred, dim=0)
    if masking_void_pixel:
        prob = prob * (target.sum(0, keepdim=True) > 0).to(prob)
    intersection = prob @ target.t()
    denominator = (prob.sum(-1)[:, None] + target.sum(-1)[None, :]) / 2.0
    return intersection / (denominator + 1e-5)


@torch.no_grad()
def class_similarity(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Probability of each target's class under each prediction (void excluded).

    Args:
        logits: (N, C+1) class logits.
        labels: (M,) target classes.

    Returns:
        Tensor: (N, M) probabilities.
    """
    return logits.softmax(-1)[:, :-1][:, labels]


@TASK_UTILS.register_module()
class KMaXHungarianMatcher:
    """One-to-one matching maximising (mask dice similarity x class probability).

    Args:
        masking_void_pixel: ignore pixels covered by no ground-truth segment in the dice.
    """

    def __init__(self, masking_void_pixel: bool = True) -> None:
        self.masking_void_pixel = masking_void_pixel

    @torch.no_grad()
    def __call__(self, class_logits: torch.Tensor, mask_logits: torch.Tensor,
                 targets: list[dict]) -> tuple[list, list, list]:
        """Match every image of the batch.

        Args:
            class_logits: (B, N, C+1) class logits.
            mask_logits: (B, N, H, W) mask logits.
            targets: per image, ``labels`` (M,) and ``masks`` (M, H, W).

        Returns:
            tuple: per image, (pred indices, target indices) as int64 tensors; the matched mask
            similarities; the matched class probabilities.
        """
        indices, matched_dice, matched_cls_prob = [], [], []
        for b, target in enumerate(targets):
            with torch.autocast(device_type=class_logits.device.type, enabled=False):
                cls_sim = class_similarity(class_logits[b].float(), target['labels'])
                pred = mask_logits[b].flatten(1).float()
                dice = mask_similarity(pred, target['masks'].flatten(1).to(pred),
                                       self.masking_void_pixel)
            cost = -(dice * cls_sim)
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            rows = torch.as_tensor(rows, dtype=torch.int64, device=dice.device)
            cols = torch.as_tensor(cols, dtype=torch.int64, device=dice.device)
            indices.append((rows, cols))
            matched_dice.append(dice[rows, cols])
            matched_cls_prob.append(cls_sim[rows, cols])
        return indices, matched_dice, matched_cls_prob
