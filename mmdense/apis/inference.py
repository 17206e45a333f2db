"""High-level inference API of multi-task dense-prediction models (mmseg.apis style)."""
from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmdense.registry import DATASETS, MODELS, TRANSFORMS
from mmdense.structures import MultiTaskDataSample

#: Image path(s) or array(s), as mmseg's ``ImageType``.
ImageType = str | np.ndarray | Sequence[str] | Sequence[np.ndarray]

#: Pipeline steps that load ground truth; inference has none, so they are dropped.
_ANNOTATION_STEP_HINT = 'Annotation'


def _strip_pretrained(cfg) -> None:
    """Drop every pretrained-weight reference of a model config (the checkpoint replaces them)."""
    if isinstance(cfg, dict):
        if 'pretrained' in cfg:
            cfg['pretrained'] = None
        init_cfg = cfg.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            cfg['init_cfg'] = None
        elif isinstance(init_cfg, list):
            cfg['init_cfg'] = [c for c in init_cfg
                               if not (isinstance(c, dict) and c.get('type') == 'Pretrained')]
        for value in cfg.values():
            _strip_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            _strip_pretrained(value)


def _test_dataset_cfg(cfg: Config) -> dict | None:
    dataset = cfg.get('test_dataloader', {}).get('dataset')
    # Dataset wrappers (RepeatDataset, ConcatDataset...) hold the real dataset config(s).
    while isinstance(dataset, dict) and 'pipeline' not in dataset:
        inner = dataset.get('dataset', dataset.get('datasets'))
        if isinstance(inner, (list, tuple)):
            inner = inner[0] if inner else None
        if inner is None:
            break
        dataset = inner
    return dataset if isinstance(dataset, dict) else None


def _dataset_meta_from_config(cfg: Config) -> dict | None:
    """Class names, palettes and tasks of the config's test dataset class (no data read)."""
    dataset = _test_dataset_cfg(cfg)
    if dataset is None or 'type' not in dataset:
        return None
    dataset_cls = dataset['type']
    if isinstance(dataset_cls, str):
        with DATASETS.switch_scope_and_registry(cfg.get('default_scope', 'mmdense')) as registry:
            dataset_cls = registry.get(dataset_cls)
    if dataset_cls is None:
        return None
    meta = copy.deepcopy(dict(getattr(dataset_cls, 'METAINFO', {})))
    meta.update(copy.deepcopy(dict(dataset.get('metainfo') or {})))
    tasks = dataset.get('tasks') or getattr(dataset_cls, 'TASKS', None)
    if tasks:
        meta.setdefault('tasks', list(tasks))
    return meta


def init_model(config: str | Path | Config,
               checkpoint: str | None = None,
               device: str = 'cpu',
               cfg_options: dict | None = None) -> nn.Module:
    """Build a model from a config and load a checkpoint.

    As mmseg's ``init_model``, but for any mmdense model: pretrained backbone weights named in
    the config are not loaded (the checkpoint holds all weights), and ``model.dataset_meta``
    comes from the checkpoint's ``meta['dataset_meta']`` or, failing that, from the config's
    test dataset class (class names, palettes, tasks).

    The checkpoint is read with the safe loader of :mod:`mmdense.utils.checkpoint` (no
    arbitrary unpickling). For a trusted file that needs full unpickling, call it inside
    ``with mmdense.utils.checkpoint.unsafe_load():`` (or set ``MMDENSE_UNSAFE_LOAD=1``).

    Args:
        config: config file path or :class:`~mmengine.config.Config` (not modified).
        checkpoint: checkpoint file; None leaves the model randomly initialised.
        device: device to put the model on, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options: overrides merged into the config.

    Returns:
        nn.Module: the model in eval mode, with ``cfg`` (the config used) and ``dataset_meta``.

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        mmdense.utils.checkpoint.CheckpointError: the checkpoint is corrupt, or would need
            unsafe unpickling (``UnsafeCheckpointError``).
    """
    if isinstance(config, (str, Path)):
        config = Config.fromfile(str(config))
    elif isinstance(config, Config):
        config = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a filename or a Config, got {type(config).__name__}')
    if cfg_options is not None:
        config.merge_from_dict(cfg_options)
    if 'model' not in config:
        raise KeyError(f'config {config.filename or ""} has no `model` entry')
    _strip_pretrained(config.model)
    if 'train_cfg' in config.model:
        config.model.train_cfg = None
    init_default_scope(config.get('default_scope', 'mmdense'))

    model = MODELS.build(config.model)
    dataset_meta = None
    if checkpoint is not None:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        dataset_meta = (ckpt.get('meta') or {}).get('dataset_meta')
    if dataset_meta is None:
        dataset_meta = _dataset_meta_from_config(config)
        if checkpoint is not None:
            warnings.warn(f'checkpoint {checkpoint} has no meta["dataset_meta"]; class names and '
                          'palettes are taken from the test dataset of the config.',
                          stacklevel=2)
    model.dataset_meta = dataset_meta or {}
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def _step_name(step) -> str:
    if isinstance(step, dict):
        kind = step.get('type', '')
        return kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))
    return type(step).__name__


def build_inference_pipeline(cfg: Config, from_array: bool = False) -> Compose:
    """The test pipeline of ``cfg`` without its annotation-loading steps.

    The pipeline is ``cfg.test_dataloader.dataset.pipeline`` (through dataset wrappers), or
    ``cfg.test_pipeline``. Steps whose type names an annotation loader
    (``LoadMultiTaskAnnotations``, ``LoadAnnotations``...) are dropped, and with
    ``from_array`` the ``LoadImageFromFile`` step reads ``results['img']`` instead of a file.

    Args:
        cfg: the model's config.
        from_array: the inputs are arrays, not paths.

    Returns:
        Compose: the pipeline, built from mmdense's ``TRANSFORMS``.
    """
    dataset = _test_dataset_cfg(cfg)
    if dataset is not None and dataset.get('pipeline'):
        steps, where = dataset['pipeline'], 'test_dataloader.dataset.pipeline'
    elif cfg.get('test_pipeline'):
        steps, where = cfg.test_pipeline, 'test_pipeline'
    else:
        raise KeyError(f'config {cfg.filename or ""} has neither test_dataloader.dataset.pipeline '
                       'nor test_pipeline: inference needs the test pipeline')
    kept, names = [], []
    for step in steps:
        step = copy.deepcopy(dict(step)) if isinstance(step, dict) else step
        name = _step_name(step)
        if _ANNOTATION_STEP_HINT in name:
            continue
        if from_array and name == 'LoadImageFromFile':
            step = dict(step, type='LoadImageFromNDArray')
            name = 'LoadImageFromNDArray'
        kept.append(step)
        names.append(name)
    if not any(n.startswith('LoadImage') for n in names):
        raise ValueError(f'{where} of {cfg.filename or "the config"} has no image loading step '
                         f'(LoadImageFromFile); its steps are {names}')
    with TRANSFORMS.switch_scope_and_registry(cfg.get('default_scope', 'mmdense')) as registry:
        built = [registry.build(s) if isinstance(s, dict) else s for s in kept]
    return Compose(built)


def inference_model(model: nn.Module,
                    img: ImageType) -> MultiTaskDataSample | list[MultiTaskDataSample]:
    """Predict every task of the model on image(s).

    Args:
        model: a model from :func:`init_model` (it needs ``model.cfg``).
        img: an image file, an image array as read by ``mmcv.imread`` (BGR, as the test
            pipeline's ``LoadImageFromFile`` gives), or a list of them.

    Returns:
        :class:`MultiTaskDataSample` (a list for a list input) with ``pred_<task>`` for every
        task of the model, at the size of the input image, and ``metainfo['tasks']``.
    """
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError('inference_model needs model.cfg (use mmdense.apis.init_model)')
    is_batch = isinstance(img, (list, tuple))
    imgs = list(img) if is_batch else [img]
    if not imgs:
        raise ValueError('inference_model got an empty list of images')
    from_array = isinstance(imgs[0], np.ndarray)
    if any(isinstance(i, np.ndarray) != from_array for i in imgs):
        raise TypeError('inference_model: give either image paths or arrays, not both')
    pipeline = build_inference_pipeline(cfg, from_array=from_array)

    data = dict(inputs=[], data_samples=[])
    for item in imgs:
        if from_array:
            results = pipeline(dict(img=item))
        else:
            results = pipeline(dict(img_path=str(item)))
        data['inputs'].append(results['inputs'])
        data['data_samples'].append(results['data_samples'])

    with torch.no_grad():
        results = model.test_step(data)
    tasks = list(getattr(model, 'tasks', []))
    for sample in results:
        if tasks and not sample.metainfo.get('tasks'):
            sample.set_metainfo(dict(tasks=tasks))
    return results if is_batch else results[0]


__all__ = ['init_model', 'inference_model', 'build_inference_pipeline', 'ImageType']
