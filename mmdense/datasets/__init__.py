from .base_multitask import BaseMultiTaskDataset
from .label_formats import LABEL_DECODERS, load_label, register_label_decoder
from .nyud_multitask import NYUD_CLASSES, NYUDv2MultiTaskDataset
from .pascal_context_multitask import PascalContextMultiTaskDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'BaseMultiTaskDataset', 'NYUDv2MultiTaskDataset', 'PascalContextMultiTaskDataset',
    'NYUD_CLASSES', 'LABEL_DECODERS', 'load_label', 'register_label_decoder'
]
from .panoptic_datasets import *  # noqa: F401,F403
