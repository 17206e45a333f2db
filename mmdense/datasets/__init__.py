from .ade20k_panoptic import ADE20K_PANOPTIC_THING_IDS, ADE20KPanopticDataset
from .base_multitask import BaseMultiTaskDataset
from .base_panoptic import BasePanopticDataset
from .cityscapes_panoptic import CityscapesPanopticDataset
from .coco_panoptic import CocoPanopticDataset
from .label_formats import LABEL_DECODERS, load_label, register_label_decoder
from .nyud_multitask import NYUD_CLASSES, NYUDv2MultiTaskDataset
from .pascal_context_multitask import PascalContextMultiTaskDataset
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _transforms_all

__all__ = [
    'BaseMultiTaskDataset', 'NYUDv2MultiTaskDataset', 'PascalContextMultiTaskDataset',
    'NYUD_CLASSES', 'LABEL_DECODERS', 'load_label', 'register_label_decoder',
    'BasePanopticDataset', 'CocoPanopticDataset', 'CityscapesPanopticDataset',
    'ADE20KPanopticDataset', 'ADE20K_PANOPTIC_THING_IDS', *_transforms_all
]
