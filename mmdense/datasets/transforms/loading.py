"""Loading of the per-task labels of a multi-task sample."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from mmdense.registry import TRANSFORMS
from mmdense.structures import TASK_SPECS

from ..label_formats import check_label_values, load_label


@TRANSFORMS.register_module()
class LoadMultiTaskAnnotations(BaseTransform):
    """Load the ground truth of every task of a multi-task sample.

    Reads ``results['label_specs']`` (set by
    :class:`~mmdense.datasets.base_multitask.BaseMultiTaskDataset`) and decodes each task's file
    with :func:`~mmdense.datasets.label_formats.load_label`. Put it after mmcv's
    ``LoadImageFromFile``: every label is then checked against the image size.

    Every label's values are checked too (finite depth and normals, non-negative depth, class
    ids below ``results['label_num_classes'][task]`` or 255), with an error naming the file.

    Required keys: ``label_specs``, ``tasks`` (optional: ``img``, ``ori_shape``, ``img_path``,
    ``label_num_classes``).

    Added keys:

    - ``gt_<task>`` (np.ndarray): ``(H, W)`` uint8 for discrete tasks (255 = ignore),
      ``(H, W)`` float32 depth (0 = invalid), ``(H, W, 3)`` float32 normals (0 = invalid);
    - ``task_fields`` (list[str]): the ``gt_<task>`` keys, in task order; the multi-task
      geometric transforms and :class:`PackMultiTaskInputs` process these keys.

    Args:
        tasks: load only these tasks (default: ``results['tasks']``, i.e. the dataset's).
    """

    def __init__(self, tasks: list[str] | None = None) -> None:
        self.tasks = None if tasks is None else list(tasks)

    def transform(self, results: dict) -> dict:
        specs = results.get('label_specs')
        if specs is None:
            raise KeyError('LoadMultiTaskAnnotations needs results["label_specs"], set by a '
                           'multi-task dataset (e.g. NYUDv2MultiTaskDataset)')
        tasks = self.tasks if self.tasks is not None else results.get('tasks', list(specs))
        if 'img' in results:
            shape = tuple(results['img'].shape[:2])
            shape_source = f'the image {results.get("img_path", "")}'
        elif results.get('ori_shape') is not None:
            shape = tuple(results['ori_shape'][:2])
            shape_source = f'the image {results.get("img_path", "")}'
        else:
            shape, shape_source = None, None

        num_classes = results.get('label_num_classes') or {}
        cache: dict = {}
        task_fields = []
        for task in tasks:
            if task not in specs:
                raise KeyError(f'no label spec for task {task!r} of sample '
                               f'{results.get("img_path")}; it has {list(specs)}')
            spec = specs[task]
            label = load_label(spec, cache, shape=shape)
            task_spec = TASK_SPECS[task]
            expected_ndim = 2 if task_spec.gt_channels == 1 else 3
            if label.ndim != expected_ndim or (
                    expected_ndim == 3 and label.shape[2] != task_spec.gt_channels):
                raise ValueError(f'{spec["path"]}: decoded {task} label has shape {label.shape}, '
                                 f'expected {task_spec.gt_channels} channel(s)')
            if shape is None:
                shape, shape_source = label.shape[:2], f'the {task} label {spec["path"]}'
            elif label.shape[:2] != shape:
                raise ValueError(f'{spec["path"]}: {task} label is {label.shape[0]}x'
                                 f'{label.shape[1]} but {shape_source} is {shape[0]}x{shape[1]}')
            check_label_values(task, label, spec['path'], num_classes.get(task))
            key = f'gt_{task}'
            results[key] = label.astype(np.dtype(task_spec.gt_dtype), copy=False)
            task_fields.append(key)
        results['task_fields'] = task_fields
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(tasks={self.tasks})'
