"""Base class of the multi-task dense-prediction datasets (NYUD-v2, PASCAL-Context)."""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence

from mmengine.dataset import BaseDataset

from mmdense.registry import TRANSFORMS
from mmdense.structures import TASK_SPECS, metainfo_key

#: How many missing files the data-list error message lists by name.
_MAX_LISTED_MISSING = 5


def bitwise_palette(num_classes: int, skip_black: bool = False) -> list[list[int]]:
    """The PASCAL VOC colour map (bits of the class index spread over R, G and B).

    Args:
        num_classes: number of colours.
        skip_black: start at index 1, so that no class is drawn black (for datasets whose
            class 0 is a real class, like NYUD-v2).

    Returns:
        list[list[int]]: ``num_classes`` RGB triples.
    """
    palette = []
    start = 1 if skip_black else 0
    for index in range(start, start + num_classes):
        rgb = [0, 0, 0]
        value = index
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        palette.append(rgb)
    return palette


class BaseMultiTaskDataset(BaseDataset):
    """A dataset whose samples have one image and one dense label per task.

    Subclasses set :attr:`TASKS` (the supported tasks, in canonical order), :attr:`SPLIT_DIR`
    (folder of the ``<split>.txt`` files, relative to ``data_root``) and implement
    :meth:`parse_sample` (file paths of one sample) and :meth:`label_decoder` (how each task's
    file is decoded, see :mod:`mmdense.datasets.label_formats`).

    A data info holds ``img_path``, ``name`` (the sample id), ``tasks`` and ``label_specs``
    (``task -> dict(type=<decoder>, path=<file>, ...)``), which
    :class:`~mmdense.datasets.transforms.LoadMultiTaskAnnotations` decodes into
    ``results['gt_<task>']``. The image is loaded by mmcv's ``LoadImageFromFile``.

    Every file is checked for existence when the data list is built (one error lists the first
    missing files and the split file); decoding errors and image/label size mismatches are
    raised, naming the file, when a sample is loaded.

    Args:
        data_root: the dataset directory (e.g. ``data/NYUDv2``).
        split: name of the split file ``<SPLIT_DIR>/<split>.txt`` (one sample id per line).
        tasks: tasks to load, any subset of :attr:`TASKS`, in the given order (the order of
            ``metainfo['tasks']`` of every sample). Default: all of :attr:`TASKS`.
        pipeline: transforms (configs or callables). Configs are built from mmdense's
            ``TRANSFORMS`` (which reaches mmseg's and mmcv's transforms).
        test_mode: see :class:`mmengine.dataset.BaseDataset`.
        ann_file: explicit split file, relative to ``data_root`` or absolute; overrides
            ``split``.
        metainfo: extra meta information, merged over :attr:`METAINFO`.
        indices, serialize_data, lazy_init, max_refetch: see
            :class:`mmengine.dataset.BaseDataset`.
        depth_scale: metres per stored depth unit, for depth files stored as integers
            (``0.001`` for ``uint16`` millimetres); it applies to the tasks measured in metres
            (``TaskSpec.unit == 'm'``). Default ``None``: depth must be stored as
            floating-point metres, and integer depth is refused with an error naming the file.
    """

    TASKS: tuple[str, ...] = ()
    SPLIT_DIR: str = ''
    METAINFO: dict = dict()

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 tasks: Sequence[str] | None = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 ann_file: str | None = None,
                 metainfo: dict | None = None,
                 indices: int | Sequence[int] | None = None,
                 serialize_data: bool = True,
                 lazy_init: bool = False,
                 max_refetch: int = 1000,
                 depth_scale: float | None = None) -> None:
        self.split = split
        self.tasks = self._check_tasks(tasks)
        if depth_scale is not None:
            if not any(t in TASK_SPECS and TASK_SPECS[t].unit == 'm' for t in self.TASKS):
                raise ValueError(f'{type(self).__name__}: depth_scale is set but the dataset has '
                                 'no depth task')
            if not (isinstance(depth_scale, (int, float)) and 0 < depth_scale < float('inf')):
                raise ValueError(f'{type(self).__name__}: depth_scale must be a positive number '
                                 f'(metres per stored unit), got {depth_scale!r}')
        self.depth_scale = depth_scale
        if ann_file is None:
            ann_file = osp.join(self.SPLIT_DIR, f'{split}.txt')
        metainfo = dict(metainfo or {})
        metainfo.setdefault('tasks', self.tasks)
        # Built here rather than by mmengine's Compose, which looks transforms up in the root
        # registry and so misses mmdense's when no default scope is set.
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=dict(img_path=''),
            indices=indices,
            serialize_data=serialize_data,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    @classmethod
    def _check_tasks(cls, tasks: Sequence[str] | None) -> tuple[str, ...]:
        if tasks is None:
            return tuple(cls.TASKS)
        if isinstance(tasks, str):
            tasks = [tasks]
        tasks = tuple(tasks)
        unknown = [t for t in tasks if t not in cls.TASKS]
        if unknown:
            raise ValueError(f'{cls.__name__}: unknown task(s) {unknown}; valid tasks are '
                             f'{list(cls.TASKS)}')
        if not tasks:
            raise ValueError(f'{cls.__name__}: tasks is empty; choose among {list(cls.TASKS)}')
        if len(set(tasks)) != len(tasks):
            raise ValueError(f'{cls.__name__}: tasks {list(tasks)} contain duplicates')
        missing_spec = [t for t in tasks if t not in TASK_SPECS]
        if missing_spec:
            raise ValueError(f'{cls.__name__}: task(s) {missing_spec} have no TASK_SPECS entry')
        return tasks

    # ------------------------------------------------------------------------------------------
    # To implement by the datasets
    # ------------------------------------------------------------------------------------------
    def parse_sample(self, sample_id: str) -> dict:
        """Paths of one sample.

        Returns:
            dict: ``img_path`` and ``label_files``: ``task -> dict`` of decoder arguments,
            whose keys ending in ``path`` are files that must exist (checked by
            :meth:`load_data_list`).
        """
        raise NotImplementedError

    def label_decoder(self, task: str) -> dict:
        """Decoder config of ``task``, shared by all samples: ``dict(type=..., **kwargs)``."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------
    def load_data_list(self) -> list[dict]:
        split_file = self.ann_file
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root {self.data_root} is not a '
                                    'directory (see data/README.md for the expected layout)')
        if not osp.isfile(split_file):
            split_dir = osp.dirname(split_file)
            listing = os.listdir(split_dir) if osp.isdir(split_dir) else []
            available = sorted(f[:-4] for f in listing if f.endswith('.txt'))
            raise FileNotFoundError(f'{type(self).__name__}: split file {split_file} not found '
                                    f'(split={self.split!r}; splits in {split_dir}: '
                                    f'{available})')
        with open(split_file) as f:
            sample_ids = [line.strip() for line in f if line.strip()]
        if not sample_ids:
            raise ValueError(f'{type(self).__name__}: split file {split_file} lists no sample')

        data_list, missing = [], []
        for sample_id in sample_ids:
            info = self.parse_sample(sample_id)
            info['name'] = sample_id
            files = [info['img_path']] + [
                value for task in self.tasks for key, value in info['label_files'][task].items()
                if key.endswith('path')
            ]
            missing.extend(f for f in files if not osp.isfile(f))
            data_list.append(info)
        if missing:
            listed = ', '.join(missing[:_MAX_LISTED_MISSING])
            more = len(missing) - _MAX_LISTED_MISSING
            raise FileNotFoundError(
                f'{type(self).__name__}: {len(missing)} file(s) of the samples listed in '
                f'{split_file} (tasks {list(self.tasks)}) are missing: {listed}'
                + (f' and {more} more' if more > 0 else ''))
        return data_list

    def label_num_classes(self) -> dict[str, int]:
        """Number of classes of each discrete task, for the label value checks.

        ``semseg`` counts ``metainfo['classes']``, ``<task>`` counts
        ``metainfo['<task>_classes']``; ``'binary'`` tasks (saliency, boundaries) have 2.
        """
        counts = {}
        for task in self.tasks:
            spec = TASK_SPECS[task]
            if not spec.discrete:
                continue
            names = self.metainfo.get(metainfo_key(task, 'classes'))
            if names is not None:
                counts[task] = len(names)
            elif spec.kind == 'binary':
                counts[task] = 2
        return counts

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        label_files = info.pop('label_files')
        info['tasks'] = list(self.tasks)
        info['label_specs'] = {
            task: {**self.label_decoder(task), **label_files[task]} for task in self.tasks
        }
        if self.depth_scale is not None:
            for task in self.tasks:
                if TASK_SPECS[task].unit == 'm':
                    info['label_specs'][task]['depth_scale'] = self.depth_scale
        info['label_num_classes'] = self.label_num_classes()
        return info
