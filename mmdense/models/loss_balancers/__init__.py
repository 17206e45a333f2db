"""Multi-task loss balancing and gradient surgery (``model.loss_balancer`` of a multi-task
model); see :mod:`.base` for the design and the DDP/AMP semantics."""
from .base import BaseLossBalancer
from .gradient import (
    IMTLG,
    MGDA,
    AlignedMTL,
    BaseGradientBalancer,
    CAGrad,
    GradNorm,
    NashMTL,
    PCGrad,
)
from .weighting import DWA, FAMO, RLW, FixedWeights, GeometricMeanLoss, UncertaintyWeighting

__all__ = [
    'BaseLossBalancer', 'BaseGradientBalancer', 'FixedWeights', 'UncertaintyWeighting', 'DWA',
    'GradNorm', 'RLW', 'GeometricMeanLoss', 'FAMO', 'PCGrad', 'CAGrad', 'IMTLG', 'MGDA',
    'NashMTL', 'AlignedMTL'
]
