"""Cityscapes panoptic segmentation (19 classes: 11 stuff then 8 things)."""
import os.path as osp

from mmseg.datasets import CityscapesDataset

from mmdense.registry import DATASETS

from .base_panoptic import BasePanopticDataset


@DATASETS.register_module()
class CityscapesPanopticDataset(BasePanopticDataset):
    """Cityscapes panoptic, as written by cityscapesscripts' ``createPanopticImgs``.

    Layout (``data_root`` = ``data/cityscapes``)::

        gtFine/cityscapes_panoptic_{train,val}.json
        gtFine/cityscapes_panoptic_{train,val}/<city>_xxx_gtFine_panoptic.png
        leftImg8bit/{train,val}/<city>/<city>_xxx_leftImg8bit.png

    The json lists the 19 evaluated categories (ids 7...33) in train-id order, so labels are
    the usual train ids; things are person...bicycle (11-18).
    """

    METAINFO = dict(classes=CityscapesDataset.METAINFO['classes'],
                    palette=CityscapesDataset.METAINFO['palette'])

    def __init__(self,
                 ann_file: str = 'gtFine/cityscapes_panoptic_train.json',
                 data_prefix: dict | None = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='leftImg8bit/train',
                               seg_map_path='gtFine/cityscapes_panoptic_train')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def get_img_path(self, image: dict) -> str:
        # Images sit in one folder per city; the city is the file name's first field.
        city = image['file_name'].split('_')[0]
        return osp.join(self.data_prefix.get('img_path', ''), city, image['file_name'])
