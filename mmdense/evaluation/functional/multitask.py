"""Multi-task performance Delta_m (Maninis et al. 2019, Vandenhende et al. MTI-Net, DeMT).

``Delta_m = 1/T * sum_i (-1)^{l_i} (M_m,i - M_s,i) / M_s,i * 100``: the mean relative change of
the multi-task model ``m`` against the single-task baselines ``s`` over the ``T`` tasks, where
``l_i = 1`` when a lower value of task ``i``'s metric is better. A task given several baseline
metrics contributes the mean of their relative changes, so every task weighs the same.
"""
from collections.abc import Mapping

from mmdense.structures.task_spec import TASK_EVALUATIONS

#: Direction of every summary metric MultiTaskMetric reports (read from the task evaluations
#: of :data:`~mmdense.structures.TASK_EVALUATIONS`; a name shared by two evaluations, such as
#: ``rmse`` or ``mIoU``, has the same direction in both).
HIGHER_IS_BETTER: dict[str, bool] = {
    metric: higher for metrics in TASK_EVALUATIONS.values() for metric, higher in metrics.items()
}


def parse_baselines(baselines: Mapping[str, Mapping], key: str = 'single_task_baselines'
                    ) -> dict[str, dict[str, tuple[float, bool]]]:
    """Validate baselines and attach each metric's direction.

    Args:
        baselines: ``{task: {metric: value}}``; a value is a number (the direction comes from
            :data:`HIGHER_IS_BETTER`) or ``dict(value=..., higher_is_better=...)``.
        key: config key named in error messages.

    Returns:
        ``{task: {metric: (value, higher_is_better)}}``.
    """
    parsed: dict[str, dict[str, tuple[float, bool]]] = {}
    if not isinstance(baselines, Mapping):
        raise TypeError(f'{key} must be a dict of dicts, got {type(baselines).__name__}')
    for task, metrics in baselines.items():
        if not isinstance(metrics, Mapping) or not metrics:
            raise ValueError(f'{key}[{task!r}] must be a non-empty dict {{metric: value}}, '
                             f'got {metrics!r}')
        parsed[task] = {}
        for metric, spec in metrics.items():
            where = f'{key}[{task!r}][{metric!r}]'
            if isinstance(spec, Mapping):
                if set(spec) != {'value', 'higher_is_better'}:
                    raise ValueError(f'{where} must be a number or dict(value=..., '
                                     f'higher_is_better=...), got {dict(spec)!r}')
                value, higher = spec['value'], bool(spec['higher_is_better'])
            elif metric.startswith('IoU.'):  # per-class IoU of a label task
                value, higher = spec, True
            else:
                value = spec
                if metric not in HIGHER_IS_BETTER:
                    raise ValueError(
                        f'{where}: unknown direction for metric {metric!r}; give '
                        'dict(value=..., higher_is_better=...) or one of '
                        f'{sorted(HIGHER_IS_BETTER)}')
                higher = HIGHER_IS_BETTER[metric]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f'{where} must be a number, got {value!r}')
            if value == 0:
                raise ValueError(f'{where} is 0: Delta_m divides by the baseline')
            parsed[task][metric] = (float(value), higher)
    return parsed


def delta_m(results: Mapping[str, float],
            baselines: Mapping[str, Mapping[str, tuple[float, bool]]]) -> float:
    """Delta_m in percent.

    Args:
        results: the multi-task model's metrics keyed ``'<task>/<metric>'``.
        baselines: output of :func:`parse_baselines`.

    Returns:
        Delta_m (positive: the multi-task model is better on average).
    """
    per_task = []
    for task, metrics in baselines.items():
        changes = []
        for metric, (base, higher) in metrics.items():
            name = f'{task}/{metric}'
            if name not in results:
                raise KeyError(f'single_task_baselines names {name!r}, which was not computed; '
                               f'available: {sorted(results)}')
            sign = 1.0 if higher else -1.0
            changes.append(sign * (results[name] - base) / base)
        per_task.append(sum(changes) / len(changes))
    return sum(per_task) / len(per_task) * 100
