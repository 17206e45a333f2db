"""Top-down pose augmentation with the sampling of MMPose 0.x, for MMPose 1.x pipelines."""
from __future__ import annotations

import numpy as np
from mmcv.transforms.utils import cache_randomness
from mmpose.datasets.transforms import RandomBBoxTransform

from mmdense.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomBBoxScaleRotation(RandomBBoxTransform):
    """Random box scaling and rotation drawn as MMPose 0.x's ``TopDownGetRandomScaleRotation``.

    MMPose 1.x's ``RandomBBoxTransform`` draws from a *truncated* normal (values outside
    [-1, 1] are redrawn) and shifts the box centre with probability 0.3. MMPose 0.x (and the
    official HRFormer pose code) does not shift, and *clips* a normal draw:

    - scale: ``clip(N(1, scale_factor), 1 - scale_factor, 1 + scale_factor)``, so about 16% of
      the boxes get each end value;
    - rotation: ``clip(N(0, rotate_factor), -2 rotate_factor, 2 rotate_factor)`` degrees, used
      with probability ``rotate_prob``, else 0.

    Required/modified keys as ``RandomBBoxTransform`` (``bbox_center``, ``bbox_scale``, adds
    ``bbox_rotation``).

    Args:
        scale_factor: standard deviation ``sf`` of the scale factor. Default: 0.35 (the
            MMPose 0.x default; HRFormer uses 0.5).
        rotate_factor: standard deviation ``rf`` of the rotation in degrees. Default: 40.
        rotate_prob: probability of rotating. Default: 0.6.
    """

    def __init__(self, scale_factor: float = 0.35, rotate_factor: float = 40.0,
                 rotate_prob: float = 0.6) -> None:
        if not 0.0 <= scale_factor < 1.0:
            raise ValueError(f'RandomBBoxScaleRotation: scale_factor must be in [0, 1), got '
                             f'{scale_factor}.')
        if rotate_factor < 0:
            raise ValueError(f'RandomBBoxScaleRotation: rotate_factor must be >= 0, got '
                             f'{rotate_factor}.')
        if not 0.0 <= rotate_prob <= 1.0:
            raise ValueError(f'RandomBBoxScaleRotation: rotate_prob must be in [0, 1], got '
                             f'{rotate_prob}.')
        super().__init__(shift_factor=0.0, shift_prob=0.0,
                         scale_factor=(1.0 - scale_factor, 1.0 + scale_factor), scale_prob=1.0,
                         rotate_factor=rotate_factor, rotate_prob=rotate_prob)
        self.sf = float(scale_factor)
        self.rf = float(rotate_factor)

    @cache_randomness
    def _get_transform_params(self, num_bboxes: int) -> tuple:
        """Return ``(offset (n, 2), scale (n, 1), rotate (n,))`` as MMPose 0.x draws them."""
        offset = np.zeros((num_bboxes, 2), np.float32)
        scale = np.clip(np.random.randn(num_bboxes, 1) * self.sf + 1, 1 - self.sf, 1 + self.sf)
        rotate = np.clip(np.random.randn(num_bboxes) * self.rf, -2 * self.rf, 2 * self.rf)
        rotate = np.where(np.random.rand(num_bboxes) <= self.rotate_prob, rotate, 0.)
        return offset, scale.astype(np.float32), rotate.astype(np.float32)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale_factor={self.sf}, rotate_factor={self.rf}, '
                f'rotate_prob={self.rotate_prob})')
