"""kMaX-DeepLab matching and losses on hand-computed cases."""
import math

import pytest
import torch

from mmdense.models.losses.kmax_criterion import KMaXCriterion
from mmdense.models.losses.kmax_loss import (
    aux_semantic_loss,
    focal_cross_entropy_loss,
    mask_id_cross_entropy,
    pixelwise_insdis_loss,
    pq_dice_loss,
)
from mmdense.models.losses.kmax_matcher import (
    KMaXHungarianMatcher,
    class_similarity,
    mask_similarity,
)

BIG = 50.0


def _two_segment_case():
    """4 pixels: gt0 = {0, 1} (class 1), gt1 = {2, 3} (class 0); 3 centres."""
    masks = torch.tensor([[1., 1., 0., 0.], [0., 0., 1., 1.]])
    labels = torch.tensor([1, 0])
    mask_logits = torch.full((3, 4), -BIG)
    mask_logits[2, :2] = BIG  # centre 2 covers gt0
    mask_logits[0, 2:] = BIG  # centre 0 covers gt1
    class_logits = torch.zeros(3, 3)
    class_logits[2, 1] = 5.0
    class_logits[0, 0] = 5.0
    return masks, labels, mask_logits, class_logits


def test_matching_picks_the_covering_centres():
    masks, labels, mask_logits, class_logits = _two_segment_case()
    matcher = KMaXHungarianMatcher()
    (rows, cols), = matcher(class_logits[None], mask_logits.reshape(1, 3, 2, 2),
                            [dict(labels=labels, masks=masks.reshape(2, 2, 2))])[0]
    assert rows.tolist() == [0, 2]
    assert cols.tolist() == [1, 0]
    # dice of a perfect prediction is 2 / (2 + 1e-5); the class prob is e^5 / (e^5 + 2)
    dice = mask_similarity(mask_logits, masks)
    assert dice[2, 0].item() == pytest.approx(1.0, abs=1e-5)
    assert dice[1].abs().max().item() < 1e-6
    prob = class_similarity(class_logits, labels)
    assert prob[2, 0].item() == pytest.approx(math.exp(5) / (math.exp(5) + 2), rel=1e-6)


def test_matching_handles_images_without_segments():
    matcher = KMaXHungarianMatcher()
    indices, dice, prob = matcher(torch.zeros(1, 3, 3), torch.zeros(1, 3, 2, 2),
                                  [dict(labels=torch.zeros(0, dtype=torch.long),
                                        masks=torch.zeros(0, 2, 2))])
    assert indices[0][0].numel() == 0 and dice[0].numel() == 0 and prob[0].numel() == 0


def test_dice_loss_is_zero_for_identical_masks():
    masks, _, mask_logits, _ = _two_segment_case()
    target = torch.zeros(3, 4)
    target[2], target[0] = masks[0], masks[1]
    void = torch.zeros(1, 4, dtype=torch.bool)
    weight = torch.tensor([[1.0, 0.0, 1.0]])
    assert pq_dice_loss(mask_logits[None], target[None], void, weight).item() == 0.0
    # swapped predictions: intersection 0, loss 1 - 1 / (2 + 2 + 1) per matched mask,
    # summed over masks and scaled by 0.75 / N
    swapped = mask_logits[[2, 1, 0]]
    expected = 2 * (1 - 1 / 5) * 0.75 / 3
    assert pq_dice_loss(swapped[None], target[None], void, weight).item() == pytest.approx(
        expected, rel=1e-6)


def test_focal_cross_entropy_hand_computed():
    logits = torch.zeros(1, 2, 3)  # uniform over 2 classes + void
    gt = torch.tensor([[0, 2]])  # second centre is void
    weight = torch.tensor([[1.0, 0.5]])
    expected = (0.75 * math.log(3) * 1.0 + 0.25 * math.log(3) * 0.5) / 2
    assert focal_cross_entropy_loss(logits, gt, weight).item() == pytest.approx(expected, rel=1e-6)


def test_mask_id_cross_entropy_excludes_void():
    logits = torch.zeros(1, 2, 4)
    target = torch.tensor([[[1., 1., 0., 0.], [0., 0., 1., 0.]]])
    void = torch.tensor([[False, False, False, True]])
    # uniform over 2 masks: log 2 on each of the 3 labelled pixels
    assert mask_id_cross_entropy(logits, target, void).item() == pytest.approx(math.log(2))
    logits[0, 0, :2] = BIG
    logits[0, 1, 2] = BIG
    assert mask_id_cross_entropy(logits, target, void).item() == pytest.approx(0.0, abs=1e-6)


def test_pixelwise_instance_discrimination_hand_computed():
    # two segments of two pixels; features e1 on segment A, e2 on segment B
    feature = torch.tensor([[1., 1., 0., 0.], [0., 0., 1., 1.]]).reshape(1, 2, 2, 2)
    gt = torch.tensor([[1., 1., 0., 0.], [0., 0., 1., 1.]]).reshape(1, 2, 2, 2)
    void = torch.zeros(1, 2, 2, dtype=torch.bool)
    area = torch.full((1, 2, 2), 2.0)
    loss = pixelwise_insdis_loss(feature, gt, void, area, sample_k=4, similarity_temperature=0.3)
    e = math.exp(1 / 0.3)
    expected = -math.log(e / (2 * e + 2))  # target 0.5/0.5 on the two same-segment pixels
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_aux_semantic_loss_ignores_unlabelled_pixels():
    logits = torch.zeros(1, 3, 2, 2)
    gt = torch.tensor([[[0, 1], [2, 3]]])  # 3 = ignore
    void = gt == 3
    area = torch.ones(1, 2, 2)
    loss = aux_semantic_loss(logits, gt, void, area, ignore_index=3, sample_k=0)
    assert loss.item() == pytest.approx(math.log(3))


def _criterion_inputs(num_layers=2):
    masks, labels, mask_logits, class_logits = _two_segment_case()
    predictions = [dict(class_logits=class_logits[None].clone(),
                        mask_logits=mask_logits.reshape(1, 3, 2, 2).clone(),
                        pixel_feature=torch.nn.functional.normalize(torch.randn(1, 4, 2, 2), dim=1))
                   for _ in range(num_layers)]
    targets = [dict(labels=labels, masks=masks.reshape(2, 2, 2),
                    sem_seg=torch.tensor([[1, 1], [0, 0]]))]
    return predictions, targets


def test_process_targets_pq_weights():
    predictions, targets = _criterion_inputs()
    criterion = KMaXCriterion(num_classes=2, pixel_insdis_sample_k=4, aux_semantic_sample_k=4)
    matching = criterion.matcher(predictions[-1]['class_logits'], predictions[-1]['mask_logits'],
                                 targets)
    processed = criterion.process_targets(predictions[-1], targets, *matching)
    assert processed['labels'].tolist() == [[0, 2, 1]]  # centre 1 is unmatched -> void
    assert torch.equal(processed['masks'][0, 2].flatten(), torch.tensor([1., 1., 0., 0.]))
    cls_prob = math.exp(5) / (math.exp(5) + 2)
    # dice weights for the dice loss: matched class probabilities, 0 when unmatched
    assert processed['mask_weight'][0].tolist() == pytest.approx([cls_prob, 0.0, cls_prob])
    # class-loss weights: matched dice, and for the unmatched centre its void overlap (clamped)
    assert processed['class_weight'][0].tolist() == pytest.approx([1.0, 1e-5, 1.0], abs=1e-5)
    assert not processed['void_mask'].any()
    assert torch.allclose(processed['inverse_gt_mask_area'], torch.full((1, 2, 2), 2.0))


def test_criterion_outputs_deep_supervision_and_weights():
    torch.manual_seed(0)
    predictions, targets = _criterion_inputs(num_layers=3)
    aux = torch.zeros(1, 3, 2, 2)
    criterion = KMaXCriterion(num_classes=2, pixel_insdis_sample_k=4, aux_semantic_sample_k=0)
    losses = criterion(predictions, targets, aux)
    per_layer = {'loss_cls', 'loss_mask', 'loss_dice', 'loss_insdis'}
    assert set(losses) == per_layer | {'loss_aux_semantic'} | {
        f'd{i}.{k}' for i in range(2) for k in per_layer}
    assert losses['loss_aux_semantic'].item() == pytest.approx(math.log(3))  # weight 1
    weighted = KMaXCriterion(num_classes=2, pixel_insdis_sample_k=4, aux_semantic_sample_k=0,
                             aux_semantic_weight=2.5)(predictions, targets, aux)
    assert weighted['loss_aux_semantic'].item() == pytest.approx(2.5 * math.log(3))
    # perfect masks: dice and mask-ID terms vanish at every layer
    for key in ('loss_dice', 'd0.loss_dice', 'loss_mask', 'd1.loss_mask'):
        assert losses[key].item() == pytest.approx(0.0, abs=1e-5)


def test_criterion_with_empty_ground_truth():
    predictions, _ = _criterion_inputs()
    targets = [dict(labels=torch.zeros(0, dtype=torch.long), masks=torch.zeros(0, 2, 2),
                    sem_seg=torch.full((2, 2), 2))]
    losses = KMaXCriterion(num_classes=2, pixel_insdis_sample_k=4,
                           aux_semantic_sample_k=4)(predictions, targets, torch.zeros(1, 3, 2, 2))
    assert all(torch.isfinite(v) for v in losses.values())
