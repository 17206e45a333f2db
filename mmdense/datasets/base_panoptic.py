"""Panoptic segmentation datasets in the COCO panoptic format.

The COCO panoptic format (also used by cityscapesscripts' ``createPanopticImgs`` and
detectron2's ADE20K panoptic preparation) is a json file with ``images``, ``annotations`` and
``categories`` plus one PNG per image whose pixels encode segment ids as
``id = R + 256 * G + 256**2 * B`` (0 = unlabelled).

mmdet's ``CocoPanopticDataset`` + ``LoadPanopticAnnotations`` are not reused: they drop the
``iscrowd`` flag (a crowd thing becomes a stuff segment), derive the PNG name from the image
name (``.jpg`` -> ``.png``, COCO only), require integer image ids (Cityscapes uses strings) and
skip segments whose box is smaller than a pixel while their pixels stay in the PNG. kMaX-DeepLab
needs crowd regions as void in training and as crowd in the PQ evaluation. The class names and
palettes are taken from mmdet/mmseg.
"""
import json
import os.path as osp

from mmengine.dataset import BaseDataset
from mmengine.fileio import get_local_path

from mmdense.registry import DATASETS


@DATASETS.register_module()
class BasePanopticDataset(BaseDataset):
    """A dataset of COCO-format panoptic annotations.

    Every sample holds ``img_path``, ``seg_map_path`` (the panoptic PNG), ``img_id``,
    ``height``/``width`` and ``segments_info``: per segment ``id`` (value in the PNG),
    ``category`` (contiguous label, in the order of the json's ``categories``), ``iscrowd``,
    ``is_thing`` and ``area``.

    Args:
        ann_file: panoptic json file (relative to ``data_root``).
        data_root: dataset root.
        data_prefix: ``img_path`` (image folder) and ``seg_map_path`` (PNG folder).
        filter_empty_gt: drop training images without any non-crowd segment.
        metainfo: overrides of ``METAINFO`` (``classes``, ``palette``).
        backend_args: file backend arguments for the annotation file.
        **kwargs: see :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO: dict = dict(classes=None, palette=None)

    def __init__(self,
                 ann_file: str = '',
                 data_root: str | None = '',
                 data_prefix: dict | None = None,
                 filter_empty_gt: bool = True,
                 metainfo: dict | None = None,
                 backend_args: dict | None = None,
                 **kwargs) -> None:
        self.filter_empty_gt = filter_empty_gt
        self.backend_args = backend_args
        if data_prefix is None:
            data_prefix = dict(img_path='', seg_map_path='')
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         metainfo=metainfo, **kwargs)

    def get_img_path(self, image: dict) -> str:
        """Path of the image described by the json ``images`` entry ``image``."""
        return osp.join(self.data_prefix.get('img_path', ''), image['file_name'])

    def _read_json(self) -> dict:
        if not osp.isfile(self.ann_file) and '://' not in self.ann_file:
            raise FileNotFoundError(f'panoptic annotation file {self.ann_file} does not exist')
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local:
            with open(local) as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError as err:
                    raise ValueError(f'{self.ann_file}: not a valid json file ({err})') from err
        for key in ('images', 'annotations', 'categories'):
            if key not in data:
                raise ValueError(f'{self.ann_file}: missing "{key}"; not a COCO panoptic '
                                 'annotation file')
        return data

    def _set_categories(self, categories: list[dict]) -> dict[object, int]:
        classes = self._metainfo.get('classes')
        names = tuple(c['name'] for c in categories)
        if classes is not None and len(classes) != len(names):
            raise ValueError(f'{self.ann_file}: {len(names)} categories, but '
                             f'{type(self).__name__} expects {len(classes)} classes '
                             '(set metainfo=dict(classes=...) for a custom label set)')
        if classes is None:
            self._metainfo['classes'] = names
            classes = names
        is_thing = [bool(c.get('isthing', 0)) for c in categories]
        self._metainfo['thing_classes'] = tuple(n for n, t in zip(classes, is_thing) if t)
        self._metainfo['stuff_classes'] = tuple(n for n, t in zip(classes, is_thing) if not t)
        self._metainfo['thing_class_ids'] = tuple(i for i, t in enumerate(is_thing) if t)
        self._metainfo['category_ids'] = tuple(c['id'] for c in categories)
        if self._metainfo.get('palette') is None:
            self._metainfo['palette'] = [list(c.get('color', [(37 * i) % 256, (91 * i) % 256,
                                                               (151 * i) % 256]))
                                         for i, c in enumerate(categories)]
        self._is_thing = is_thing
        return {c['id']: i for i, c in enumerate(categories)}

    def load_data_list(self) -> list[dict]:
        data = self._read_json()
        cat2label = self._set_categories(data['categories'])
        images = {img['id']: img for img in data['images']}
        seg_prefix = self.data_prefix.get('seg_map_path', '')
        data_list = []
        for ann in data['annotations']:
            image = images.get(ann['image_id'])
            if image is None:
                raise ValueError(f'{self.ann_file}: annotation {ann.get("file_name")} refers to '
                                 f'image id {ann["image_id"]!r}, which is not in "images"')
            segments = []
            for seg in ann['segments_info']:
                if seg['category_id'] not in cat2label:
                    raise ValueError(
                        f'{self.ann_file}: segment {seg["id"]} of {ann["file_name"]} has '
                        f'category_id {seg["category_id"]}, which is not in "categories"')
                label = cat2label[seg['category_id']]
                segments.append(dict(id=int(seg['id']), category=label,
                                     iscrowd=int(seg.get('iscrowd', 0)),
                                     is_thing=self._is_thing[label],
                                     area=seg.get('area')))
            data_list.append(dict(img_path=self.get_img_path(image),
                                  seg_map_path=osp.join(seg_prefix, ann['file_name']),
                                  img_id=ann['image_id'], height=image.get('height'),
                                  width=image.get('width'), segments_info=segments))
        return data_list

    def filter_data(self) -> list[dict]:
        if self.test_mode or not self.filter_empty_gt:
            return self.data_list
        return [d for d in self.data_list
                if any(not s['iscrowd'] for s in d['segments_info'])]
