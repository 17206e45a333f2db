"""kMaX-DeepLab training criterion: matching, PQ-style losses and deep supervision."""

import torch
import torch.nn as nn

from mmdense.registry import MODELS, TASK_UTILS

from .kmax_loss import (
    aux_semantic_loss,
    focal_cross_entropy_loss,
    mask_id_cross_entropy,
    pixelwise_insdis_loss,
    pq_dice_loss,
)
from .kmax_matcher import KMaXHungarianMatcher  # noqa: F401  (registers the default matcher)


@MODELS.register_module()
class KMaXCriterion(nn.Module):
    """Losses of kMaX-DeepLab.

    Cluster centres are matched to ground-truth segments once, on the final prediction, and the
    matching is shared by every decoder layer (``share_final_matching``). The PQ-style weighting
    uses the matched mask similarity as the class-loss weight and the matched class probability
    as the dice-loss weight; unmatched centres are trained towards void with their void overlap
    as weight.

    Args:
        num_classes: thing + stuff classes (void excluded).
        class_weight: weight of the classification loss.
        dice_weight: weight of the PQ-style dice loss.
        mask_weight: weight of the mask-ID cross-entropy.
        insdis_weight: weight of the pixel-wise instance discrimination loss (0 disables it).
        aux_semantic_weight: weight of the auxiliary semantic loss (0 disables it).
        no_object_weight: lower bound of the PQ-style weights.
        share_final_matching: reuse the final matching for every decoder layer.
        pixel_insdis_temperature: sampling temperature of instance discrimination.
        pixel_insdis_sample_k: pixels sampled for instance discrimination.
        insdis_similarity_temperature: temperature of the pixel similarities.
        aux_semantic_temperature: sampling temperature of the semantic loss.
        aux_semantic_sample_k: pixels sampled for the semantic loss (0 for all).
        masking_void_pixel: drop void pixels from the dice and matching.
        focal_alpha: weight of non-void targets in the class loss.
        matcher: config of the matcher (default ``KMaXHungarianMatcher``).
    """

    def __init__(self,
                 num_classes: int,
                 class_weight: float = 3.0,
                 dice_weight: float = 3.0,
                 mask_weight: float = 0.3,
                 insdis_weight: float = 1.0,
                 aux_semantic_weight: float = 1.0,
                 no_object_weight: float = 1e-5,
                 share_final_matching: bool = True,
                 pixel_insdis_temperature: float = 1.5,
                 pixel_insdis_sample_k: int = 4096,
                 insdis_similarity_temperature: float = 0.3,
                 aux_semantic_temperature: float = 2.0,
                 aux_semantic_sample_k: int = 4096,
                 masking_void_pixel: bool = True,
                 focal_alpha: float = 0.75,
                 matcher: dict | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.class_weight = class_weight
        self.dice_weight = dice_weight
        self.mask_weight = mask_weight
        self.insdis_weight = insdis_weight
        self.aux_semantic_weight = aux_semantic_weight
        self.no_object_weight = no_object_weight
        self.share_final_matching = share_final_matching
        self.pixel_insdis_temperature = pixel_insdis_temperature
        self.pixel_insdis_sample_k = pixel_insdis_sample_k
        self.insdis_similarity_temperature = insdis_similarity_temperature
        self.aux_semantic_temperature = aux_semantic_temperature
        self.aux_semantic_sample_k = aux_semantic_sample_k
        self.masking_void_pixel = masking_void_pixel
        self.focal_alpha = focal_alpha
        matcher = dict(matcher or dict(type='KMaXHungarianMatcher'))
        matcher.setdefault('masking_void_pixel', masking_void_pixel)
        self.matcher = TASK_UTILS.build(matcher)

    @torch.no_grad()
    def process_targets(self, prediction: dict[str, torch.Tensor], targets: list[dict],
                        indices: list, matched_dice: list,
                        matched_cls_prob: list) -> dict[str, torch.Tensor]:
        """Pad and permute the ground truth to one target per cluster centre.

        Args:
            prediction: ``class_logits`` (B, N, C+1) and ``mask_logits`` (B, N, H, W).
            targets: per image ``labels`` (M,), ``masks`` (M, H, W) and optionally
                ``sem_seg`` (H, W) with ``num_classes`` on unlabelled pixels.
            indices: matching from the matcher.
            matched_dice: matched mask similarities.
            matched_cls_prob: matched class probabilities.

        Returns:
            dict: ``masks`` (B, N, H, W), ``labels`` (B, N), ``mask_weight`` (B, N) (dice-loss
            weights), ``class_weight`` (B, N) (class-loss weights), ``void_mask`` (B, H, W),
            ``inverse_gt_mask_area`` (B, H, W) and ``sem_seg`` (B, H, W) when given.
        """
        mask_logits = prediction['mask_logits'].detach()
        batch, num_queries = mask_logits.shape[:2]
        batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        src_idx = torch.cat([src for src, _ in indices])

        masks = torch.zeros_like(mask_logits)
        masks[batch_idx, src_idx] = torch.cat(
            [t['masks'][tgt] for t, (_, tgt) in zip(targets, indices)]).to(masks)
        # Overlapping (instance) masks are normalised so that every pixel sums to at most one.
        masks = masks / masks.sum(1, keepdim=True).clamp(min=1.0)

        mask_weight = torch.zeros((batch, num_queries), dtype=masks.dtype, device=masks.device)
        mask_weight[batch_idx, src_idx] = torch.cat(matched_cls_prob).clamp(
            min=self.no_object_weight).to(masks)

        void_mask = masks.sum(1) < 1
        mask_area = masks.sum((2, 3))
        pixel_area = torch.einsum('bnhw,bn->bhw', masks, mask_area)
        inverse_gt_mask_area = (pixel_area.shape[1] * pixel_area.shape[2]) / pixel_area.clamp(
            min=1.0)

        labels = torch.full((batch, num_queries), self.num_classes, dtype=torch.int64,
                            device=masks.device)
        labels[batch_idx, src_idx] = torch.cat(
            [t['labels'][tgt] for t, (_, tgt) in zip(targets, indices)]).to(labels)

        # Unmatched centres are weighted by how much of their mass lies on void pixels.
        prob = mask_logits.softmax(1).flatten(2)
        void_overlap = torch.einsum('bnl,bl->bn', prob, void_mask.flatten(1).to(prob)) / (
            prob.sum(-1) + 1e-5)
        void_overlap[batch_idx, src_idx] = torch.cat(matched_dice).to(void_overlap)
        class_weight = void_overlap.clamp(min=self.no_object_weight)

        processed = dict(masks=masks, labels=labels, mask_weight=mask_weight,
                         class_weight=class_weight, void_mask=void_mask,
                         inverse_gt_mask_area=inverse_gt_mask_area)
        if all('sem_seg' in t for t in targets):
            processed['sem_seg'] = torch.stack([t['sem_seg'] for t in targets]).long()
        return processed

    def _prediction_losses(self, prediction: dict[str, torch.Tensor],
                           processed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mask_logits = prediction['mask_logits'].flatten(2)
        masks = processed['masks'].flatten(2)
        void_mask = processed['void_mask'].flatten(1)
        losses = dict(
            loss_cls=self.class_weight * focal_cross_entropy_loss(
                prediction['class_logits'], processed['labels'], processed['class_weight'],
                alpha=self.focal_alpha),
            loss_mask=self.mask_weight * mask_id_cross_entropy(mask_logits, masks, void_mask),
            loss_dice=self.dice_weight * pq_dice_loss(mask_logits, masks, void_mask,
                                                      processed['mask_weight'],
                                                      self.masking_void_pixel))
        if self.insdis_weight > 0:
            losses['loss_insdis'] = self.insdis_weight * pixelwise_insdis_loss(
                prediction['pixel_feature'], processed['masks'], processed['void_mask'],
                processed['inverse_gt_mask_area'], self.pixel_insdis_temperature,
                self.pixel_insdis_sample_k, self.insdis_similarity_temperature)
        return losses

    def forward(self,
                predictions: list[dict[str, torch.Tensor]],
                targets: list[dict],
                aux_semantic: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Compute the weighted losses.

        Args:
            predictions: per decoder layer, then the final one: ``class_logits``,
                ``mask_logits`` and ``pixel_feature``, all at the final resolution.
            targets: per image ``labels``, ``masks`` and ``sem_seg`` (see
                :meth:`process_targets`).
            aux_semantic: (B, C+1, H, W) auxiliary semantic logits, or None.

        Returns:
            dict: ``loss_*`` of the final prediction and ``d{i}.loss_*`` of layer i.
        """
        with torch.autocast(device_type=predictions[-1]['mask_logits'].device.type,
                            enabled=False):
            predictions = [{k: v.float() for k, v in p.items()} for p in predictions]
            final = predictions[-1]
            matching = self.matcher(final['class_logits'], final['mask_logits'], targets)
            processed = self.process_targets(final, targets, *matching)
            losses = self._prediction_losses(final, processed)
            if self.aux_semantic_weight > 0 and aux_semantic is not None:
                losses['loss_aux_semantic'] = self.aux_semantic_weight * aux_semantic_loss(
                    aux_semantic.float(), processed['sem_seg'], processed['void_mask'],
                    processed['inverse_gt_mask_area'], self.num_classes,
                    self.aux_semantic_temperature, self.aux_semantic_sample_k)
            for i, prediction in enumerate(predictions[:-1]):
                layer_processed = processed
                if not self.share_final_matching:
                    matching = self.matcher(prediction['class_logits'],
                                            prediction['mask_logits'], targets)
                    layer_processed = self.process_targets(prediction, targets, *matching)
                for name, value in self._prediction_losses(prediction, layer_processed).items():
                    losses[f'd{i}.{name}'] = value
        return losses
