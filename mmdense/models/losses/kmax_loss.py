"""Loss terms of kMaX-DeepLab (PQ-style mask/class losses, instance discrimination, semantic).

All follow DeepLab2's MaX-DeepLab losses as released in PyTorch by bytedance/kmax-deeplab:
every per-sample loss is averaged over its non-zero entries (``num_non_zero``), then over the
batch.
"""
import torch
import torch.nn.functional as F

# Added to the sampling logits of void pixels so that they are (almost) never sampled.
SOFTMAX_MASKING_CONSTANT = -99999.0


def divide_no_nan(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x / y`` with 0 where the result is NaN or infinite (``tf.math.divide_no_nan``)."""
    return torch.nan_to_num(x / y, nan=0.0, posinf=0.0, neginf=0.0)


def _mean_over_non_zero(loss: torch.Tensor) -> torch.Tensor:
    """Average (B, K) losses over their non-zero entries per sample, then over the batch."""
    loss = loss.flatten(1)
    num_non_zero = (loss != 0.0).to(loss).sum(-1).clamp(min=1.0)
    return divide_no_nan(loss.sum(-1), num_non_zero).mean()


def focal_cross_entropy_loss(pred: torch.Tensor,
                             gt: torch.Tensor,
                             weight: torch.Tensor,
                             alpha: float = 0.75,
                             gamma: float = 0.0) -> torch.Tensor:
    """PQ-style weighted classification loss over cluster centres.

    Args:
        pred: (B, N, C+1) class logits, the last class being void.
        gt: (B, N) target classes (C = void for unmatched centres).
        weight: (B, N) per-centre weights (the matched mask similarity).
        alpha: weight of non-void targets; void targets get ``1 - alpha``.
        gamma: focal exponent (0 gives weighted cross-entropy, kMaX's setting).

    Returns:
        Tensor: scalar loss.
    """
    pred = pred.transpose(1, 2)
    one_hot = F.one_hot(gt, num_classes=pred.shape[1]).transpose(1, 2).to(pred)
    loss = F.cross_entropy(pred, one_hot, reduction='none')
    if gamma != 0.0:
        pt = (F.softmax(pred, dim=1) * one_hot).sum(1)
        loss = torch.pow(1.0 - pt, gamma) * loss
    if alpha >= 0:
        is_void = one_hot[:, -1]
        loss = (alpha * (1.0 - is_void) + (1 - alpha) * is_void) * loss
    return _mean_over_non_zero(loss * weight)


def gumbel_topk_sample(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Draw ``k`` indices per row without replacement from ``softmax(logits)`` (Gumbel top-k)."""
    noise = torch.rand(logits.shape, dtype=logits.dtype, device=logits.device)
    noise = -torch.log(-torch.log(noise))
    return torch.topk(logits + noise, k)[1]


def _sampling_logits(inverse_gt_mask_area: torch.Tensor, void_mask: torch.Tensor,
                     temperature: float) -> torch.Tensor:
    """Sampling logits that favour pixels of small segments and exclude void pixels."""
    logits = torch.log(inverse_gt_mask_area.flatten(1)) * temperature
    return logits + void_mask.flatten(1).to(logits) * SOFTMAX_MASKING_CONSTANT


def pixelwise_insdis_loss(pixel_feature: torch.Tensor,
                          gt_mask: torch.Tensor,
                          void_mask: torch.Tensor,
                          inverse_gt_mask_area: torch.Tensor,
                          sample_temperature: float = 1.5,
                          sample_k: int = 4096,
                          similarity_temperature: float = 0.3) -> torch.Tensor:
    """Pixel-wise instance discrimination: sampled pixels of one segment should be similar.

    Args:
        pixel_feature: (B, C, H, W) L2-normalised pixel embeddings.
        gt_mask: (B, N, H, W) ground-truth masks (normalised to sum to at most 1 per pixel).
        void_mask: (B, H, W) True on pixels without ground truth.
        inverse_gt_mask_area: (B, H, W) image area over the area of each pixel's segment.
        sample_temperature: temperature of the area-based pixel sampling.
        sample_k: pixels sampled per image.
        similarity_temperature: temperature of the feature similarities.

    Returns:
        Tensor: scalar loss.
    """
    pixel_feature = pixel_feature.flatten(2)
    gt_mask = gt_mask.flatten(2)
    k = min(sample_k, pixel_feature.shape[-1])
    index = gumbel_topk_sample(
        _sampling_logits(inverse_gt_mask_area, void_mask, sample_temperature), k)
    gt_sampled = torch.gather(gt_mask, 2, index.unsqueeze(1).expand(-1, gt_mask.shape[1], -1))
    gt_similarity = torch.einsum('bnk,bnj->bkj', gt_sampled, gt_sampled)
    gt_similarity = gt_similarity / gt_similarity.sum(1, keepdim=True).clamp(min=1.0)
    pred_sampled = torch.gather(pixel_feature, 2,
                                index.unsqueeze(1).expand(-1, pixel_feature.shape[1], -1))
    pred_similarity = torch.einsum('bck,bcj->bkj', pred_sampled, pred_sampled)
    pred_similarity = pred_similarity / similarity_temperature
    loss = F.cross_entropy(pred_similarity, gt_similarity, reduction='none')
    return _mean_over_non_zero(loss)


def aux_semantic_loss(pred: torch.Tensor,
                      gt: torch.Tensor,
                      void_mask: torch.Tensor,
                      inverse_gt_mask_area: torch.Tensor,
                      ignore_index: int,
                      sample_temperature: float = 2.0,
                      sample_k: int = 4096) -> torch.Tensor:
    """Cross-entropy of the auxiliary semantic logits on area-weighted sampled pixels.

    Args:
        pred: (B, C, h, w) semantic logits.
        gt: (B, H, W) semantic labels, ``ignore_index`` where unlabelled.
        void_mask: (B, H, W) True on pixels without ground truth.
        inverse_gt_mask_area: (B, H, W) see :func:`pixelwise_insdis_loss`.
        ignore_index: label of unlabelled pixels.
        sample_temperature: temperature of the area-based pixel sampling.
        sample_k: pixels sampled per image; 0 uses every pixel.

    Returns:
        Tensor: scalar loss.
    """
    if pred.shape[-2:] != gt.shape[-2:]:
        # DeepLab2 subsamples the ground truth of (stride * n + 1)-sized inputs.
        stride = (gt.shape[-1] - 1) // (pred.shape[-1] - 1)
        if (gt.shape[-2] - 1) // (pred.shape[-2] - 1) != stride:
            raise ValueError(f'cannot align semantic logits {tuple(pred.shape[-2:])} with '
                             f'ground truth {tuple(gt.shape[-2:])}')
        gt = gt[:, ::stride, ::stride]
        void_mask = void_mask[:, ::stride, ::stride]
        inverse_gt_mask_area = inverse_gt_mask_area[:, ::stride, ::stride]
    pred = pred.flatten(2)
    gt = gt.flatten(1)
    if sample_k > 0:
        k = min(sample_k, gt.shape[-1])
        index = gumbel_topk_sample(
            _sampling_logits(inverse_gt_mask_area, void_mask, sample_temperature), k)
        gt = torch.gather(gt, 1, index)
        pred = torch.gather(pred, 2, index.unsqueeze(1).expand(-1, pred.shape[1], -1))
    loss = F.cross_entropy(pred, gt, ignore_index=ignore_index, reduction='none')
    loss = loss * (gt != ignore_index).to(loss)
    return _mean_over_non_zero(loss)


def pq_dice_loss(pred: torch.Tensor,
                 target: torch.Tensor,
                 void_mask: torch.Tensor,
                 weight: torch.Tensor,
                 masking_void_pixel: bool = True) -> torch.Tensor:
    """Dice loss of the per-pixel softmax over masks, weighted by the matched class probability.

    Args:
        pred: (B, N, HW) mask logits.
        target: (B, N, HW) target masks.
        void_mask: (B, HW) True on pixels without ground truth.
        weight: (B, N) matched class probabilities (0 for unmatched centres).
        masking_void_pixel: whether void pixels are removed from the predictions.

    Returns:
        Tensor: scalar loss, summed over masks (scaled by 0.75 / N) and averaged over images.
    """
    prob = pred.softmax(1)
    if masking_void_pixel:
        prob = prob.masked_fill(void_mask.unsqueeze(1), 0)
    intersection = 2 * (prob * target).sum(-1) + 1.0
    denominator = prob.sum(-1) + target.sum(-1) + 1.0
    loss = (1.0 - divide_no_nan(intersection, denominator)) * weight
    # DeepLab2 sums over masks; its 0.75 "modifier" is folded in here.
    return (loss.sum(1) * 0.75 / prob.shape[1]).mean()


def mask_id_cross_entropy(pred: torch.Tensor, target: torch.Tensor,
                          void_mask: torch.Tensor) -> torch.Tensor:
    """Mask-ID cross-entropy: each pixel classifies which mask it belongs to.

    Args:
        pred: (B, N, HW) mask logits.
        target: (B, N, HW) target masks (a distribution over masks per labelled pixel).
        void_mask: (B, HW) True on pixels without ground truth (excluded).

    Returns:
        Tensor: scalar loss.
    """
    loss = F.cross_entropy(pred, target, reduction='none').masked_fill(void_mask, 0)
    return _mean_over_non_zero(loss)
