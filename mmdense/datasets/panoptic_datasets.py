"""Panoptic segmentation datasets (COCO-format json + PNG annotations)."""
from .ade20k_panoptic import ADE20K_PANOPTIC_THING_IDS, ADE20KPanopticDataset
from .cityscapes_panoptic import CityscapesPanopticDataset
from .coco_panoptic import CocoPanopticDataset
from .panoptic_dataset import BasePanopticDataset

__all__ = [
    'BasePanopticDataset', 'CocoPanopticDataset', 'CityscapesPanopticDataset',
    'ADE20KPanopticDataset', 'ADE20K_PANOPTIC_THING_IDS'
]
