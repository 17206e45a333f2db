"""COCO panoptic segmentation (133 classes: 80 things then 53 stuff)."""
from mmdense.registry import DATASETS

from .base_panoptic import BasePanopticDataset


def _coco_panoptic_metainfo() -> dict:
    from mmdet.datasets.coco_panoptic import CocoPanopticDataset as MMDetCocoPanoptic
    meta = MMDetCocoPanoptic.METAINFO
    return dict(classes=tuple(meta['classes']), palette=[list(c) for c in meta['palette']])


@DATASETS.register_module()
class CocoPanopticDataset(BasePanopticDataset):
    """COCO panoptic 2017.

    Layout (``data_root`` = ``data/coco``)::

        annotations/panoptic_{train,val}2017.json
        annotations/panoptic_{train,val}2017/*.png
        {train,val}2017/*.jpg

    Labels follow the json's category order (ids 1-90 things, 92-200 stuff).
    """

    METAINFO = _coco_panoptic_metainfo()

    def __init__(self,
                 ann_file: str = 'annotations/panoptic_train2017.json',
                 data_prefix: dict | None = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='train2017/',
                               seg_map_path='annotations/panoptic_train2017/')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)
