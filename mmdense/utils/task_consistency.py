"""One check that the tasks of a multi-task config agree, run before any training step.

A head whose tasks differ from the evaluator's otherwise trains until the first validation
(iteration 4000 of the paper configs) and crashes there; a dataset lacking a task the head
predicts fails at the first loss. :func:`check_task_consistency` compares, on the config alone,
the tasks of the model's head (``model.decode_head``), its losses,
every dataloader's dataset and every evaluator, and what each task's
:class:`~mmdense.structures.TaskSpec` requires: head channels (the class count of the
dataset for ``'classes'`` tasks, 1 or 2 for ``'binary'`` ones, the spec's ``pred_channels``
otherwise) and the boundary tolerance the metric reads from the dataset metainfo. It names the
config keys that disagree.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mmdense.structures.task_spec import TASK_SPECS, metainfo_key

#: Config key of the multi-task head (mmseg's name).
_HEAD_KEYS = ('decode_head', )
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


def _dataset_meta(ds: Mapping, key: str) -> Any:
    """``key`` of the dataset's metainfo: the config's ``metainfo``, else the class's
    ``METAINFO`` (what mmengine merges), else ``None``."""
    metainfo = ds.get('metainfo') or {}
    if key in metainfo:
        return metainfo[key]
    return (getattr(_dataset_class(ds), 'METAINFO', None) or {}).get(key)


def _dataset_num_classes(ds: Mapping, task: str) -> int | None:
    names = _dataset_meta(ds, metainfo_key(task, 'classes'))
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


def _head(model: Any) -> tuple[Mapping | None, str]:
    if not isinstance(model, Mapping):
        return None, ''
    for key in _HEAD_KEYS:
        head = model.get(key)
        if isinstance(head, Mapping) and head.get('tasks') is not None:
            return head, f'model.{key}'
    return None, ''


def _channel_problem(task: str, channels: Any, key: str) -> str | None:
    """What is wrong with ``channels`` output channels for ``task``, or ``None``."""
    spec = TASK_SPECS[task]
    if spec.kind == 'classes':
        return None  # compared with the dataset's classes below
    allowed = (1, 2) if spec.kind == 'binary' else (spec.pred_channels, )
    if channels not in allowed:
        what = ' or '.join(str(c) for c in allowed)
        return (f'{key}.{task} is {channels!r} but a {spec.kind} task ({task}) needs {what} '
                'output channel(s)')
    return None


def task_consistency_problems(cfg: Mapping) -> list[str]:
    """Every disagreement between the tasks of ``cfg``'s head, losses, datasets and evaluators.

    Configs without a multi-task head (``model.decode_head.tasks``)
    have none.

    Returns:
        list[str]: one sentence per problem, each naming the config keys involved.
    """
    head, head_key = _head(cfg.get('model') or {})
    if head is None:
        return []
    model = cfg['model']
    tasks = head['tasks']
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    tasks_key = f'{head_key}.tasks'
    problems = []
    unknown = [t for t in tasks if t not in TASK_SPECS]
    if unknown:
        return [f'{tasks_key} {tasks} has {unknown}, which are no registered task (known: '
                f'{list(TASK_SPECS)}; add one with mmdense.structures.register_task)']

    def differ(what: list[str], key: str, required: str) -> None:
        missing = [t for t in tasks if t not in what]
        extra = [t for t in what if t not in tasks]
        if missing or extra:
            parts = ([f'lacks {missing}'] if missing else []) + (
                [f'has {extra} that the head does not predict'] if extra else [])
            problems.append(f'{key} {list(what)} {" and ".join(parts)} ({required} '
                            f'{tasks_key} {tasks})')

    channels = head.get('task_channels')
    channels_key = f'{head_key}.task_channels'
    if isinstance(channels, Mapping):
        differ(list(channels), channels_key, 'must match')
        for task in tasks:
            problem = _channel_problem(task, channels.get(task), channels_key) \
                if task in channels else None
            if problem:
                problems.append(problem)
    losses = model.get('losses')
    if isinstance(losses, Mapping):
        differ(list(losses), 'model.losses', 'must match')

    for loader_key, evaluator_key in _SPLITS:
        ds, ds_key = _dataset(cfg.get(loader_key), loader_key)
        ds_tasks = _dataset_tasks(ds) if ds is not None else None
        if ds_tasks is not None:
            if loader_key == 'train_dataloader':
                missing = [t for t in tasks if t not in ds_tasks]
                if missing:
                    problems.append(f'{ds_key}.tasks {ds_tasks} lacks {missing}, which '
                                    f'{tasks_key} {tasks} predicts and trains')
            if isinstance(channels, Mapping):
                for task in tasks:
                    if task not in ds_tasks or task not in channels or \
                            TASK_SPECS[task].kind != 'classes':
                        continue
                    n = _dataset_num_classes(ds, task)
                    if n is not None and channels[task] != n:
                        problems.append(f'{channels_key}.{task} is {channels[task]} but the '
                                        f'{task} classes of {ds_key} number {n}')
        if evaluator_key is None:
            continue
        for metric, metric_key in _evaluators(cfg.get(evaluator_key), evaluator_key):
            metric_tasks = metric['tasks']
            metric_tasks = [metric_tasks] if isinstance(metric_tasks, str) else list(
                metric_tasks)
            unpredicted = [t for t in metric_tasks if t not in tasks]
            if unpredicted:
                problems.append(f'{metric_key}.tasks {metric_tasks} evaluates {unpredicted}, '
                                f'which {tasks_key} {tasks} does not predict')
            if ds_tasks is not None:
                unlabelled = [t for t in metric_tasks if t not in ds_tasks]
                if unlabelled:
                    problems.append(f'{metric_key}.tasks {metric_tasks} evaluates '
                                    f'{unlabelled}, which {ds_key}.tasks {ds_tasks} does not '
                                    'load')
            num_classes = metric.get('num_classes') or {}
            num_classes = num_classes if isinstance(num_classes, Mapping) else {}
            for task in metric_tasks:
                spec = TASK_SPECS.get(task)
                if spec is None:
                    continue
                if spec.kind == 'classes' and task in num_classes and \
                        isinstance(channels, Mapping) and task in channels and \
                        num_classes[task] != channels[task]:
                    problems.append(f'{metric_key}.num_classes.{task} is {num_classes[task]} '
                                    f'but {channels_key}.{task} is {channels[task]}')
                if ds is None or _dataset_class(ds) is None or task not in (ds_tasks or ()):
                    continue
                if spec.metrics == 'boundary':
                    key = metainfo_key(task, 'tolerance')
                    if _dataset_meta(ds, key) is None:
                        problems.append(f'{metric_key} evaluates {task}, but {ds_key} has no '
                                        f'metainfo {key} (the boundary matching distance the '
                                        'metric reads from dataset_meta)')
            if 'edge_max_dist' in metric:
                problems.append(f'{metric_key}.edge_max_dist is no longer used: the boundary '
                                f'tolerance is the dataset metainfo edge_tolerance')
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
