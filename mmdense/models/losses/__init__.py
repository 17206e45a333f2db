from .balanced_bce_loss import BalancedBinaryCrossEntropyLoss  # noqa: F401
from .dense_cross_entropy_loss import DenseCrossEntropyLoss  # noqa: F401
from .kmax_criterion import KMaXCriterion  # noqa: F401
from .masked_l1_loss import MaskedL1Loss  # noqa: F401
from .openseg_cross_entropy_loss import OhemCrossEntropyLoss, WeightedMeanCrossEntropyLoss  # noqa: F401,E501
