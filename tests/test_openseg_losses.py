"""openseg's cross-entropy losses (official HRFormer segmentation): OHEM averaged over the kept
pixels and PyTorch's class-weighted mean, checked on hand-computed cases."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmdense.models.losses import OhemCrossEntropyLoss, WeightedMeanCrossEntropyLoss


def two_class_logits(probs: list[list[float]]) -> torch.Tensor:
    """(1, 2, H, W) logits whose class-1 softmax probability is ``probs``."""
    p = torch.tensor(probs, dtype=torch.float64)
    logit1 = torch.log(p / (1 - p))
    return torch.stack([torch.zeros_like(logit1), logit1]).unsqueeze(0).float()


# true-class probabilities 0.95, 0.5, 0.2 and one ignored pixel (label 255)
PROBS = [[0.95, 0.5], [0.2, 0.6]]
LABELS = torch.tensor([[[1, 1], [1, 255]]])


def test_ohem_averages_over_kept_pixels_not_all_pixels():
    # official FSOhemCELoss: sorted labelled probs [0.2, 0.5, 0.95], min_kept 2 ->
    # t = max(sorted[2] = 0.95, 0.9) -> keeps 0.2 and 0.5 (p < t), divides by 2
    pred = two_class_logits(PROBS)
    loss = OhemCrossEntropyLoss(thresh=0.9, min_kept=2)(pred, LABELS)
    kept_mean = (-math.log(0.5) - math.log(0.2)) / 2
    assert loss.item() == pytest.approx(kept_mean, rel=1e-5)
    # mmseg's OHEMPixelSampler + CrossEntropyLoss keep the same pixels but divide by all 4
    from mmseg.models.losses import CrossEntropyLoss
    from mmseg.structures.sampler import OHEMPixelSampler

    class _Head:  # the sampler only reads these two attributes of its decode head
        ignore_index = 255
        loss_decode = CrossEntropyLoss()

    seg_weight = OHEMPixelSampler(_Head(), thresh=0.9, min_kept=2).sample(pred, LABELS[:, None])
    assert seg_weight.tolist() == [[[0.0, 1.0], [1.0, 0.0]]]
    mmseg_loss = CrossEntropyLoss()(pred, LABELS, weight=seg_weight, ignore_index=255)
    assert mmseg_loss.item() == pytest.approx(kept_mean * 2 / 4, rel=1e-5)
    assert loss.item() == pytest.approx(mmseg_loss.item() * 4 / 2, rel=1e-5)


def test_ohem_min_kept_raises_the_threshold():
    pred = two_class_logits(PROBS)
    # thresh 0.3 alone would keep only 0.2; min_kept 2 -> t = max(sorted[2] = 0.95, 0.3)
    # keeps the two pixels below 0.95
    loss = OhemCrossEntropyLoss(thresh=0.3, min_kept=2)(pred, LABELS)
    assert loss.item() == pytest.approx((-math.log(0.5) - math.log(0.2)) / 2, rel=1e-5)
    # min_kept 1 -> t = max(sorted[1] = 0.5, 0.3) = 0.5: strictly below keeps only 0.2
    loss = OhemCrossEntropyLoss(thresh=0.3, min_kept=1)(pred, LABELS)
    assert loss.item() == pytest.approx(-math.log(0.2), rel=1e-5)
    # min_kept beyond the labelled pixels -> t = max(largest prob, thresh): all but the easiest
    loss = OhemCrossEntropyLoss(thresh=0.3, min_kept=100000)(pred, LABELS)
    assert loss.item() == pytest.approx((-math.log(0.5) - math.log(0.2)) / 2, rel=1e-5)
    mask = OhemCrossEntropyLoss(thresh=0.3, min_kept=100000).kept_mask(pred, LABELS)
    assert mask.tolist() == [[[False, True], [True, False]]]


def test_ohem_class_weights_scale_pixels_but_not_the_count():
    # class 0 pixels this time: true-class probability 1 - PROBS
    pred = two_class_logits([[0.05, 0.5], [0.8, 0.4]])
    labels = torch.tensor([[[0, 0], [1, 255]]])
    # true-class probs: 0.95 (class 0), 0.5 (class 0), 0.8 (class 1); thresh 0.9 keeps 0.5, 0.8
    loss = OhemCrossEntropyLoss(thresh=0.9, min_kept=1, class_weight=[2.0, 0.5])(pred, labels)
    expected = (2.0 * -math.log(0.5) + 0.5 * -math.log(0.8)) / 2  # not / (2.0 + 0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_ohem_is_per_image_and_skips_unlabelled_images():
    pred = torch.cat([two_class_logits(PROBS), two_class_logits([[0.1, 0.3], [0.99, 0.99]])])
    labels = torch.tensor([[[1, 1], [1, 255]], [[1, 1], [1, 1]]])
    loss = OhemCrossEntropyLoss(thresh=0.9, min_kept=1)(pred, labels)
    first = (-math.log(0.5) - math.log(0.2)) / 2
    # second image: sorted [0.1, 0.3, 0.99, 0.99], t = max(0.3, 0.9) -> keeps 0.1 and 0.3
    second = (-math.log(0.1) - math.log(0.3)) / 2
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-5)
    # an image without labelled pixels adds 0 instead of NaN
    labels[1] = 255
    loss = OhemCrossEntropyLoss(thresh=0.9, min_kept=1)(pred, labels)
    assert loss.item() == pytest.approx(first / 2, rel=1e-5)


def test_ohem_gradient_reaches_only_kept_pixels():
    pred = two_class_logits(PROBS).requires_grad_()
    OhemCrossEntropyLoss(thresh=0.9, min_kept=1, loss_weight=3.0)(pred, LABELS).backward()
    grad_norm = pred.grad.abs().sum(1)[0]
    assert grad_norm[0, 0] == 0 and grad_norm[1, 1] == 0
    assert grad_norm[0, 1] > 0 and grad_norm[1, 0] > 0


def test_weighted_mean_ce_is_pytorch_mean_per_image():
    torch.manual_seed(0)
    pred = torch.randn(2, 3, 4, 5)
    labels = torch.randint(0, 3, (2, 4, 5))
    labels[0, 0] = 255
    labels[1, :, :2] = 255
    w = [0.5, 1.0, 2.0]
    loss = WeightedMeanCrossEntropyLoss(class_weight=w, loss_weight=0.4)(pred, labels)
    expected = sum(
        F.cross_entropy(pred[i:i + 1], labels[i:i + 1], weight=torch.tensor(w),
                        ignore_index=255) for i in range(2)) / 2
    assert loss.item() == pytest.approx(0.4 * expected.item(), rel=1e-5)
    # hand-computed: weighted sum over weighted count, not over the pixel count
    pred = two_class_logits([[0.25, 0.5]])
    labels = torch.tensor([[[1, 0]]])
    loss = WeightedMeanCrossEntropyLoss(class_weight=[3.0, 1.0])(pred, labels)
    assert loss.item() == pytest.approx((1.0 * -math.log(0.25) + 3.0 * -math.log(0.5)) / 4,
                                        rel=1e-5)
    # no weights: the mean over the labelled pixels only
    loss = WeightedMeanCrossEntropyLoss()(pred, torch.tensor([[[1, 255]]]))
    assert loss.item() == pytest.approx(-math.log(0.25), rel=1e-5)


def test_bad_inputs_raise():
    pred = two_class_logits(PROBS)
    with pytest.raises(ValueError, match='sampler'):
        OhemCrossEntropyLoss()(pred, LABELS, weight=torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match='class_weight has 3 entries for 2 classes'):
        OhemCrossEntropyLoss(class_weight=[1, 1, 1])(pred, LABELS)
    with pytest.raises(ValueError, match='ignore_index'):
        WeightedMeanCrossEntropyLoss(ignore_index=255)(pred, LABELS, ignore_index=0)
    with pytest.raises(ValueError, match='labels'):
        WeightedMeanCrossEntropyLoss()(pred, LABELS[:, :1])
    with pytest.raises(ValueError, match='thresh'):
        OhemCrossEntropyLoss(thresh=0.0)
    with pytest.raises(ValueError, match="start with 'loss_'"):
        OhemCrossEntropyLoss(loss_name='ohem')
