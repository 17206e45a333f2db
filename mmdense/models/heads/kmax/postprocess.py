"""Panoptic and semantic inference from kMaX-DeepLab cluster predictions."""
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mmdense.structures.panoptic import INSTANCE_OFFSET


def kmax_semantic_inference(class_logits: torch.Tensor,
                            mask_logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel class probabilities: sum over centres of p(class) x p(pixel in mask).

    Args:
        class_logits: (N, C+1) class logits (void last).
        mask_logits: (N, H, W) mask logits.

    Returns:
        Tensor: (C, H, W) class scores (void excluded).
    """
    cls_prob = F.softmax(class_logits, dim=-1)[..., :-1]
    mask_prob = F.softmax(mask_logits, dim=0)
    return torch.einsum('qc,qhw->chw', cls_prob, mask_prob)


def kmax_panoptic_inference(class_logits: torch.Tensor,
                            mask_logits: torch.Tensor,
                            thing_class_ids: Sequence[int],
                            class_threshold_thing: float = 0.7,
                            class_threshold_stuff: float = 0.5,
                            pixel_confidence_threshold: float = 0.4,
                            overlap_threshold: float = 0.8,
                            reorder_class_weight: float = 1.0,
                            reorder_mask_weight: float = 1.0,
                            stuff_area_limit: int = 0) -> torch.Tensor:
    """Mask-wise merging of cluster predictions into a panoptic map (MaX-DeepLab).

    Centres are visited by decreasing ``class_score ** a * mask_score ** b``; a centre is kept
    when its class is confident and at least ``overlap_threshold`` of its confident pixels are
    still free. Stuff centres of the same class are merged into one segment.

    Args:
        class_logits: (N, C+1) class logits (void last).
        mask_logits: (N, H, W) mask logits.
        thing_class_ids: labels of the thing classes.
        class_threshold_thing: minimum class probability of a thing segment.
        class_threshold_stuff: minimum class probability of a stuff segment.
        pixel_confidence_threshold: minimum mask probability of a segment pixel.
        overlap_threshold: minimum fraction of a segment's pixels not yet taken.
        reorder_class_weight: exponent of the class score in the ordering.
        reorder_mask_weight: exponent of the mask score in the ordering.
        stuff_area_limit: stuff segments with fewer pixels are dropped at the end (0 keeps
            all, the official setting).

    Returns:
        Tensor: (H, W) int64 panoptic map, ``label + instance_id * INSTANCE_OFFSET`` for
        segments (instance ids from 1 for things, 0 for stuff) and ``C`` for void.
    """
    num_classes = class_logits.shape[-1] - 1
    cls_scores, cls_labels = F.softmax(class_logits, dim=-1)[..., :-1].max(-1)
    mask_scores = F.softmax(mask_logits, dim=0)
    binary_masks = mask_scores > pixel_confidence_threshold
    binary_flat = binary_masks.flatten(1).float()
    num_pixels = binary_flat.sum(1)
    mean_mask_scores = (mask_scores.flatten(1) * binary_flat).sum(1) / num_pixels.clamp(min=1.0)
    order = torch.argsort(cls_scores**reorder_class_weight *
                          mean_mask_scores**reorder_mask_weight, descending=True).tolist()

    thing_set = {int(c) for c in thing_class_ids}
    cls_scores = cls_scores.tolist()
    cls_labels = cls_labels.tolist()
    num_pixels = num_pixels.tolist()
    # Segment ids: 1, 2, ... in acceptance order; 0 is free.
    segments = torch.zeros(mask_logits.shape[1:], dtype=torch.int64, device=mask_logits.device)
    segment_labels = []
    stuff_segment = {}
    for idx in order:
        label = cls_labels[idx]
        is_thing = label in thing_set
        threshold = class_threshold_thing if is_thing else class_threshold_stuff
        if cls_scores[idx] <= threshold:
            continue
        new_mask = binary_masks[idx] & (segments == 0)
        if not float(new_mask.sum()) > num_pixels[idx] * overlap_threshold:
            continue
        if not is_thing and label in stuff_segment:
            segments[new_mask] = stuff_segment[label]
            continue
        segment_labels.append(label)
        segments[new_mask] = len(segment_labels)
        if not is_thing:
            stuff_segment[label] = len(segment_labels)

    panoptic = torch.full_like(segments, num_classes)
    instance_id = 0
    for seg_id, label in enumerate(segment_labels, start=1):
        region = segments == seg_id
        if label in thing_set:
            instance_id += 1
            panoptic[region] = label + instance_id * INSTANCE_OFFSET
        elif int(region.sum()) >= stuff_area_limit:
            panoptic[region] = label
    return panoptic
