"""DeMT's dense losses on hand-computed cases."""
import math

import pytest
import torch

from mmdense.models.losses import (
    BalancedBinaryCrossEntropyLoss,
    DenseCrossEntropyLoss,
    MaskedL1Loss,
)
from mmdense.registry import MODELS


def bce(logit, label, w):
    s = 1 / (1 + math.exp(-logit))
    return -(w * label * math.log(s) + (1 - w) * (1 - label) * math.log(1 - s))


def test_balanced_bce_fixed_weight_averages_over_labelled_pixels():
    pred = torch.tensor([[[[0.5, -1.0], [2.0, 0.0]]]])
    label = torch.tensor([[[[1, 0], [255, 1]]]])
    loss = BalancedBinaryCrossEntropyLoss(pos_weight=0.8, loss_weight=50.0)(pred, label)
    expected = (bce(0.5, 1, 0.8) + bce(-1.0, 0, 0.8) + bce(0.0, 1, 0.8)) / 3
    assert loss.item() == pytest.approx(50 * expected, rel=1e-6)


def test_balanced_bce_adaptive_weight_is_negative_fraction():
    pred = torch.tensor([[[[0.3, -0.2, 1.5, 0.0]]]])
    label = torch.tensor([[[[1, 0, 0, 0]]]])
    loss = BalancedBinaryCrossEntropyLoss()(pred, label)
    w = 3 / 4
    expected = (bce(0.3, 1, w) + bce(-0.2, 0, w) + bce(1.5, 0, w) + bce(0.0, 0, w)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # No positive pixel: the official loss is 0.
    zero = BalancedBinaryCrossEntropyLoss()(pred, torch.zeros_like(label))
    assert zero.item() == 0


def test_balanced_bce_matches_official_formula():
    """Official: BCEWithLogits(pos_weight=w/(1-w)) * (1-w), mean over labelled pixels."""
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 1, 5, 6, generator=g)
    label = (torch.rand(2, 1, 5, 6, generator=g) > 0.7).long()
    label[0, 0, 0] = 255
    mask = label != 255
    w = torch.tensor(0.95)
    official = torch.nn.functional.binary_cross_entropy_with_logits(
        pred[mask], label[mask].float(), pos_weight=w / (1 - w)) * (1 - w)
    ours = BalancedBinaryCrossEntropyLoss(pos_weight=0.95)(pred, label)
    torch.testing.assert_close(ours, official)


def test_cross_entropy_ignores_255_and_divides_by_valid_pixels():
    pred = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]]])  # (1, 3, 1, 2)
    label = torch.tensor([[[[0, 255]]]])
    loss = DenseCrossEntropyLoss(loss_weight=2.0)(pred, label)
    expected = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(1)))
    assert loss.item() == pytest.approx(2 * expected, rel=1e-6)
    all_ignored = DenseCrossEntropyLoss()(pred, torch.full_like(label, 255))
    assert all_ignored.item() == 0


def test_cross_entropy_is_mmsegs_with_avg_non_ignore():
    """Unbalanced and unweighted, the loss is mmseg's CrossEntropyLoss(avg_non_ignore=True);
    with class weights it divides by the labelled pixels, not by their summed weights."""
    from mmseg.models.losses import CrossEntropyLoss

    torch.manual_seed(0)
    pred = torch.randn(2, 5, 6, 7, requires_grad=True)
    label = torch.randint(0, 5, (2, 1, 6, 7))
    label[label == 4] = 255
    ours = DenseCrossEntropyLoss(loss_weight=3.0)(pred, label)
    mmseg = CrossEntropyLoss(avg_non_ignore=True, loss_weight=3.0)(pred, label[:, 0],
                                                                   ignore_index=255)
    torch.testing.assert_close(ours, mmseg, rtol=1e-6, atol=1e-6)
    grad_ours, = torch.autograd.grad(ours, pred)
    grad_mmseg, = torch.autograd.grad(mmseg, pred)
    torch.testing.assert_close(grad_ours, grad_mmseg, rtol=1e-6, atol=1e-6)

    weights = [0.5, 2.0, 1.0, 3.0, 1.0]
    weighted = DenseCrossEntropyLoss(class_weight=weights)(pred, label)
    valid = label[:, 0] != 255
    per_pixel = torch.nn.functional.cross_entropy(pred, label[:, 0].clamp(max=4), reduction='none')
    w = torch.tensor(weights)[label[:, 0].clamp(max=4)]
    expected = (w * per_pixel)[valid].sum() / valid.sum()
    torch.testing.assert_close(weighted, expected, rtol=1e-6, atol=1e-6)


def test_balanced_cross_entropy_for_saliency():
    pred = torch.tensor([[[[1.0, 0.0, -1.0]], [[0.0, 2.0, 0.5]]]])  # (1, 2, 1, 3)
    label = torch.tensor([[[[0, 1, 1]]]])
    loss = DenseCrossEntropyLoss(balanced=True)(pred, label)
    w_pos = 1 / 3  # fraction of negatives: class weights (1 - w_pos, w_pos)

    def ce(l0, l1, y):
        return -math.log(math.exp([l0, l1][y]) / (math.exp(l0) + math.exp(l1)))

    expected = ((1 - w_pos) * ce(1, 0, 0) + w_pos * ce(0, 2, 1) + w_pos * ce(-1, 0.5, 1)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match='2-class'):
        DenseCrossEntropyLoss(balanced=True)(torch.zeros(1, 3, 1, 3), label)
    with pytest.raises(ValueError, match='exclude'):
        DenseCrossEntropyLoss(balanced=True, class_weight=[1, 1])


def test_masked_l1_depth_skips_zero_depth():
    pred = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    target = torch.tensor([[[[1.5, 0.0, 1.0]]]])
    loss = MaskedL1Loss()(pred, target)
    assert loss.item() == pytest.approx((0.5 + 2.0) / 2)


def test_masked_l1_normals_normalises_and_sums_channels_per_pixel():
    pred = torch.tensor([[[[3.0, 1.0]], [[4.0, 1.0]], [[0.0, 1.0]]]])  # (1, 3, 1, 2)
    target = torch.tensor([[[[0.0, 0.0]], [[1.0, 0.0]], [[0.0, 0.0]]]])  # pixel 2 unlabelled
    loss = MaskedL1Loss(normalize=True, loss_weight=10.0)(pred, target)
    # Pixel 1: unit prediction (0.6, 0.8, 0) vs (0, 1, 0): |0.6| + |0.2| + 0, over 1 pixel.
    assert loss.item() == pytest.approx(10 * 0.8, rel=1e-6)
    # A valid normal with a zero component is still labelled.
    target[0, :, 0, 1] = torch.tensor([0.0, 0.0, 1.0])
    loss = MaskedL1Loss(normalize=True)(pred, target)
    n = 1 / math.sqrt(3)
    assert loss.item() == pytest.approx((0.8 + n + n + (1 - n)) / 2, rel=1e-6)


def test_losses_are_registered_and_check_shapes():
    loss = MODELS.build(dict(type='MaskedL1Loss', normalize=True))
    with pytest.raises(ValueError, match='shapes differ'):
        loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2))
    for name in ('DenseCrossEntropyLoss', 'BalancedBinaryCrossEntropyLoss'):
        assert MODELS.get(name) is not None
    with pytest.raises(ValueError, match='pos_weight'):
        BalancedBinaryCrossEntropyLoss(pos_weight=1.0)
