"""One check that the tasks of a multi-task config agree, run before any training step.

A head whose tasks differ from the evaluator's otherwise trains until the first validation
(iteration 4000 of the paper configs) and crashes there; a dataset lacking a task the head
predicts fails at the first loss. :func:`check_task_consistency` compares, on the config alone,
the tasks (and class counts) of the model's head and losses, of every dataloader's dataset and
of every evaluator, and names the config keys that disagree.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Tasks whose prediction is a class index, so the head's channels are the class count.
_LABEL_TASKS = ('semseg', 'human_parts')
_SPLITS = (('train_dataloader', None), ('val_dataloader', 'val_evaluator'),
           ('test_dataloader', 'test_evaluator'))


class TaskConsistencyError(ValueError):
    """The tasks named in different parts of a config do not agree."""


def _dataset(loader: Any, key: str) -> tuple[Mapping | None, str]:
    """The innermost dataset config of a dataloader (following dataset wrappers)."""
    if not isinstance(loader, Mapping):
        return None, key
    ds, key = loader.get('dataset'), f'{key}.dataset'
    while isinstance(ds, Mapping) and 'tasks' not in ds and isinstance(ds.get('dataset'),
                                                                      Mapping):
        ds, key = ds['dataset'], f'{key}.dataset'
    return (ds if isinstance(ds, Mapping) else None), key


def _dataset_class(ds: Mapping) -> Any:
    from mmdense.registry import DATASETS

    kind = ds.get('type')
    if isinstance(kind, type):
        return kind
    try:
        return DATASETS.get(kind) if isinstance(kind, str) else None
    except Exception:  # an unknown type is reported when the dataset is built
        return None


def _dataset_tasks(ds: Mapping) -> list[str] | None:
    if ds.get('tasks') is not None:
        tasks = ds['tasks']
        return [tasks] if isinstance(tasks, str) else list(tasks)
    cls = _dataset_class(ds)
    tasks = getattr(cls, 'TASKS', None)
    return list(tasks) if tasks else None


def _dataset_num_classes(ds: Mapping, task: str) -> int | None:
    meta_key = 'classes' if task == 'semseg' else f'{task}_classes'
    metainfo = ds.get('metainfo') or {}
    if metainfo.get(meta_key) is not None:
        return len(metainfo[meta_key])
    cls = _dataset_class(ds)
    names = (getattr(cls, 'METAINFO', None) or {}).get(meta_key)
    return len(names) if names is not None else None


def _evaluators(value: Any, key: str) -> list[tuple[Mapping, str]]:
    if isinstance(value, Mapping):
        if 'metrics' in value and 'tasks' not in value:  # an Evaluator wrapping metrics
            return _evaluators(value['metrics'], f'{key}.metrics')
        return [(value, key)] if 'tasks' in value else []
    if isinstance(value, Sequence) and not isinstance(value, str):
        found = []
        for i, item in enumerate(value):
            found += _evaluators(item, f'{key}[{i}]')
        return found
    return []


def task_consistency_problems(cfg: Mapping) -> list[str]:
    """Every disagreement between the tasks of ``cfg``'s head, losses, datasets and evaluators.

    Configs without a multi-task head (``model.head.tasks``) have none.

    Returns:
        list[str]: one sentence per problem, each naming the config keys involved.
    """
    model = cfg.get('model') or {}
    head = model.get('head') if isinstance(model, Mapping) else None
    if not isinstance(head, Mapping) or head.get('tasks') is None:
        return []
    tasks = list(head['tasks'])
    problems = []

    def differ(what: list[str], key: str, required: str) -> None:
        missing = [t for t in tasks if t not in what]
        extra = [t for t in what if t not in tasks]
        if missing or extra:
            parts = ([f'lacks {missing}'] if missing else []) + (
                [f'has {extra} that the head does not predict'] if extra else [])
            problems.append(f'{key} {list(what)} {" and ".join(parts)} ({required} '
                            f'model.head.tasks {tasks})')

    channels = head.get('task_channels')
    if isinstance(channels, Mapping):
        differ(list(channels), 'model.head.task_channels', 'must match')
    losses = model.get('losses')
    if isinstance(losses, Mapping):
        differ(list(losses), 'model.losses', 'must match')

    split_tasks = {}
    for loader_key, evaluator_key in _SPLITS:
        ds, ds_key = _dataset(cfg.get(loader_key), loader_key)
        ds_tasks = _dataset_tasks(ds) if ds is not None else None
        if ds_tasks is not None:
            split_tasks[loader_key] = ds_tasks
            if loader_key == 'train_dataloader':
                missing = [t for t in tasks if t not in ds_tasks]
                if missing:
                    problems.append(f'{ds_key}.tasks {ds_tasks} lacks {missing}, which '
                                    f'model.head.tasks {tasks} predicts and trains')
            if isinstance(channels, Mapping):
                for task in _LABEL_TASKS:
                    n = _dataset_num_classes(ds, task) if task in ds_tasks else None
                    if n is not None and task in channels and channels[task] != n:
                        problems.append(f'model.head.task_channels.{task} is '
                                        f'{channels[task]} but the {task} classes of {ds_key} '
                                        f'number {n}')
        if evaluator_key is None:
            continue
        for metric, metric_key in _evaluators(cfg.get(evaluator_key), evaluator_key):
            metric_tasks = metric['tasks']
            metric_tasks = [metric_tasks] if isinstance(metric_tasks, str) else list(
                metric_tasks)
            unpredicted = [t for t in metric_tasks if t not in tasks]
            if unpredicted:
                problems.append(f'{metric_key}.tasks {metric_tasks} evaluates {unpredicted}, '
                                f'which model.head.tasks {tasks} does not predict')
            if ds_tasks is not None:
                unlabelled = [t for t in metric_tasks if t not in ds_tasks]
                if unlabelled:
                    problems.append(f'{metric_key}.tasks {metric_tasks} evaluates '
                                    f'{unlabelled}, which {ds_key}.tasks {ds_tasks} does not '
                                    'load')
            num_classes = metric.get('num_classes') or {}
            if isinstance(channels, Mapping) and isinstance(num_classes, Mapping):
                for task in _LABEL_TASKS:
                    if task in num_classes and task in channels and \
                            num_classes[task] != channels[task]:
                        problems.append(f'{metric_key}.num_classes.{task} is '
                                        f'{num_classes[task]} but model.head.task_channels.'
                                        f'{task} is {channels[task]}')
    return problems


def check_task_consistency(cfg: Mapping) -> None:
    """Raise :class:`TaskConsistencyError` listing every task disagreement of ``cfg``.

    Args:
        cfg: a full config (``mmengine.Config`` or dict).

    Raises:
        TaskConsistencyError: one line naming the config keys that disagree.
    """
    problems = task_consistency_problems(cfg)
    if problems:
        raise TaskConsistencyError('tasks of the config disagree: ' + '; '.join(problems) + '.')
