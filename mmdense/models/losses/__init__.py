from .balanced_bce_loss import BalancedBinaryCrossEntropyLoss
from .dense_cross_entropy_loss import DenseCrossEntropyLoss
from .kmax_criterion import KMaXCriterion
from .masked_l1_loss import MaskedL1Loss
from .openseg_cross_entropy_loss import OhemCrossEntropyLoss, WeightedMeanCrossEntropyLoss

__all__ = [
    'BalancedBinaryCrossEntropyLoss', 'DenseCrossEntropyLoss', 'KMaXCriterion', 'MaskedL1Loss',
    'OhemCrossEntropyLoss', 'WeightedMeanCrossEntropyLoss'
]
