"""Packing of a multi-task sample into model inputs and a MultiTaskDataSample."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData

from mmdense.registry import TRANSFORMS
from mmdense.structures import TASK_SPECS, MultiTaskDataSample

DEFAULT_META_KEYS = ('img_path', 'name', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
                     'flip', 'flip_direction', 'padding_size', 'tasks')


@TRANSFORMS.register_module()
class PackMultiTaskInputs(BaseTransform):
    """Pack the image and the per-task labels for a multi-task model.

    Returns ``dict(inputs=..., data_samples=...)``:

    - ``inputs``: the image as a ``(C, H, W)`` tensor of its own dtype (uint8 from
      ``LoadImageFromFile``; normalisation is the data preprocessor's job);
    - ``data_samples``: a :class:`~mmdense.structures.MultiTaskDataSample` with one
      ``gt_<task>`` :class:`~mmengine.structures.PixelData` per key of ``task_fields``: discrete
      tasks as int64 ``(1, H, W)``, depth as float32 ``(1, H, W)``, normals as float32
      ``(3, H, W)``; its metainfo holds the ``meta_keys`` found in ``results``. ``img_shape``,
      ``ori_shape``, ``pad_shape`` (default: the image size), ``scale_factor`` (``(1., 1.)``),
      ``flip`` (False), ``flip_direction`` (None) and ``tasks`` (the packed tasks) are always
      set, so every consumer finds them.

    Args:
        meta_keys: keys of ``results`` copied to the sample's metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

        sample = MultiTaskDataSample()
        packed_tasks = []
        for key in results.get('task_fields', []):
            task = key[3:] if key.startswith('gt_') else key
            if task not in TASK_SPECS:
                raise KeyError(f'cannot pack {key!r}: task {task!r} is not in TASK_SPECS')
            spec = TASK_SPECS[task]
            label = np.asarray(results[key])
            label = label[None] if label.ndim == 2 else label.transpose(2, 0, 1)
            if label.shape[0] != spec.gt_channels:
                raise ValueError(f'{key} of {results.get("img_path")} has {label.shape[0]} '
                                 f'channel(s), TASK_SPECS[{task!r}] expects {spec.gt_channels}')
            if label.shape[1:] != tuple(img.shape[:2]):
                raise ValueError(f'{key} of {results.get("img_path")} is {label.shape[1]}x'
                                 f'{label.shape[2]} but the image is {img.shape[0]}x'
                                 f'{img.shape[1]}')
            dtype = torch.int64 if spec.discrete else torch.float32
            tensor = torch.from_numpy(np.ascontiguousarray(label)).to(dtype)
            sample.set_gt(task, PixelData(data=tensor))
            packed_tasks.append(task)

        img_shape = tuple(img.shape[:2])
        metainfo = dict(
            img_shape=img_shape,
            ori_shape=img_shape,
            pad_shape=img_shape,
            scale_factor=(1., 1.),
            flip=False,
            flip_direction=None,
            tasks=packed_tasks)
        metainfo.update({key: results[key] for key in self.meta_keys if key in results})
        sample.set_metainfo(metainfo)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
