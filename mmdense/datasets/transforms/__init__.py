# mmcv's and mmseg's transforms (LoadImageFromFile, PhotoMetricDistortion...) are used unprefixed
# in multi-task pipelines; mmdense's registry reaches them only once they are registered.
import mmcv.transforms  # noqa: F401
import mmseg.datasets.transforms  # noqa: F401

from .formatting import PackMultiTaskInputs
from .loading import LoadMultiTaskAnnotations
from .multitask_transforms import (
    IgnoreEmptyHumanParts,
    MultiTaskPad,
    MultiTaskRandomCrop,
    MultiTaskRandomFlip,
    MultiTaskRandomResize,
    MultiTaskResize,
    resize_multitask,
)
from .openseg_transforms import RandomBrightnessShift, RandomPositionPad, RandomScaleAspectResize
from .panoptic_transforms import (
    LoadPanopticSegAnnotations,
    PackPanopticInputs,
    PanopticCopyPaste,
    PanopticLargeScaleJitter,
    rgb2id,
)
from .topdown_transforms import RandomBBoxScaleRotation

__all__ = [
    'LoadMultiTaskAnnotations', 'MultiTaskResize', 'MultiTaskRandomResize', 'MultiTaskRandomCrop',
    'MultiTaskRandomFlip', 'MultiTaskPad', 'IgnoreEmptyHumanParts', 'PackMultiTaskInputs',
    'resize_multitask', 'RandomBrightnessShift', 'RandomPositionPad', 'RandomScaleAspectResize',
    'LoadPanopticSegAnnotations', 'PanopticLargeScaleJitter', 'PanopticCopyPaste',
    'PackPanopticInputs', 'rgb2id', 'RandomBBoxScaleRotation'
]
