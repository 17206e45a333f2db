"""ADE20K panoptic segmentation (150 classes: 100 things, 50 stuff, interleaved)."""
from mmseg.datasets import ADE20KDataset

from mmdense.registry import DATASETS

from .base_panoptic import BasePanopticDataset

# Labels (category ids 0-149 of detectron2's ADE20K_150_CATEGORIES) of the 100 thing classes.
ADE20K_PANOPTIC_THING_IDS = (
    7, 8, 10, 12, 14, 15, 18, 19, 20, 22, 23, 24, 27, 30, 31, 32, 33, 35, 36, 37, 38, 39, 41, 42,
    43, 44, 45, 47, 49, 50, 53, 55, 56, 57, 58, 62, 64, 65, 66, 67, 69, 70, 71, 72, 73, 74, 75,
    76, 78, 80, 81, 82, 83, 85, 86, 87, 88, 89, 90, 92, 93, 95, 97, 98, 102, 103, 104, 107, 108,
    110, 111, 112, 115, 116, 118, 119, 120, 121, 123, 124, 125, 126, 127, 129, 130, 132, 133,
    134, 135, 136, 137, 138, 139, 142, 143, 144, 146, 147, 148, 149)


@DATASETS.register_module()
class ADE20KPanopticDataset(BasePanopticDataset):
    """ADE20K (SceneParsing 150) panoptic, as prepared by detectron2's
    ``prepare_ade20k_pan_seg.py``.

    Layout (``data_root`` = ``data/ade/ADEChallengeData2016``)::

        ade20k_panoptic_{train,val}.json
        ade20k_panoptic_{train,val}/ADE_*.png
        images/{training,validation}/ADE_*.jpg

    Class names and palette are mmseg's ADE20K ones (same order as the json categories).
    """

    METAINFO = dict(classes=ADE20KDataset.METAINFO['classes'],
                    palette=ADE20KDataset.METAINFO['palette'])

    def __init__(self,
                 ann_file: str = 'ade20k_panoptic_train.json',
                 data_prefix: dict | None = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='images/training',
                               seg_map_path='ade20k_panoptic_train')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)
