"""What a dense task is: the one contract every multi-task component reads.

Datasets, transforms, the data preprocessor, the segmentor, the metric, the visualizer and the
config check look a task up in :data:`TASK_SPECS` instead of testing its name. A new task is
added in one place, :func:`register_task`, plus its loss in the model config (see the "Add a
task" section of ``configs/demt/README.md``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: What a ground-truth map holds: class labels, a {0, 1} map (salient / boundary pixels), a
#: scalar or vector regression map, or unit vectors (surface normals).
TASK_KINDS = ('classes', 'binary', 'regression', 'unit_vector')

#: The evaluations of :class:`~mmdense.evaluation.MultiTaskMetric`: the summary metrics each
#: reports (keys ``'<task>/<metric>'``), in log order, and whether a higher value is better
#: (the sign of Delta_m). A task names one of them as its ``metrics``.
TASK_EVALUATIONS: dict[str, dict[str, bool]] = {
    'segmentation': {'mIoU': True, 'mAcc': True, 'aAcc': True},
    'depth': {'rmse': False, 'abs_rel': False, 'log_rmse': False, 'delta1': True,
              'delta2': True, 'delta3': True},
    'normals': {'mean': False, 'median': False, 'rmse': False, '11.25': True, '22.5': True,
                '30': True},
    'saliency': {'maxF': True, 'maxmIoU': True, 'mIoU': True},
    'boundary': {'odsF': True, 'oisF': True, 'AP': True},
}

_FLIP_DIRECTIONS = ('horizontal', 'vertical')
_PRED_OF_KIND = dict(classes='label', binary='prob', regression='value', unit_vector='value')


@dataclass(frozen=True)
class TaskSpec:
    """How one dense task is stored, augmented, predicted, evaluated and drawn.

    Args:
        kind: one of :data:`TASK_KINDS`. ``'classes'`` and ``'binary'`` ground truth is
            discrete (nearest-neighbour resizing, ``uint8``); ``'binary'`` predictions are the
            foreground probability; ``'unit_vector'`` predictions are normalised to length 1.
        metrics: the evaluation of the task, a key of :data:`TASK_EVALUATIONS`.
        title: the task's name in logs and in the visualizer's panels.
        gt_channels: channels of the ground-truth map (3 for normals).
        pred_channels: channels of ``pred_<task>``. Default: 1 for ``'classes'`` (the argmax
            label) and ``'binary'`` (the probability), ``gt_channels`` otherwise.
        ignore_value: value of an unlabeled pixel in the ground truth, also the padding value.
            Default: 255 for discrete kinds, 0 (invalid depth, zero normal) otherwise.
        gt_dtype: numpy dtype name of the ground truth. Default: ``'uint8'`` for discrete
            kinds, ``'float32'`` otherwise.
        flip_signs: ``{direction: per-channel factors or None}`` for each flip direction the
            task supports: after flipping the map along ``direction``, channel ``c`` is
            multiplied by ``factors[c]`` (``None``: values unchanged). A direction missing
            here cannot be applied to, or undone on, the task. Default: both directions,
            values unchanged.
        min_value: lower bound of the values (depth >= 0): the ground truth is checked against
            it and predictions are clamped to it.
        divide_by_zoom: values scale as ``1 / zoom`` (metric depth): the resize transforms
            divide them by the zoom factor when asked to (``rescale_depth=True``).
        metainfo_prefix: prefix of the task's dataset metainfo keys (``<prefix>classes``,
            ``<prefix>palette``, ``<prefix>tolerance``). Default ``'<task>_'``; ``''`` for the
            semantic segmentation, whose keys are mmseg's ``classes`` and ``palette``.
        unit: unit of a regression map's values, shown by the visualizer (``'m'`` for depth).
    """

    kind: str
    metrics: str
    title: str
    gt_channels: int = 1
    pred_channels: int | None = None
    ignore_value: float | None = None
    gt_dtype: str | None = None
    flip_signs: Mapping[str, Sequence[float] | None] | tuple = field(
        default=(('horizontal', None), ('vertical', None)))
    min_value: float | None = None
    divide_by_zoom: bool = False
    metainfo_prefix: str | None = None
    unit: str = ''

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f'TaskSpec: kind must be one of {TASK_KINDS}, got {self.kind!r}')
        if self.metrics not in TASK_EVALUATIONS:
            raise ValueError(f'TaskSpec: metrics must be one of {list(TASK_EVALUATIONS)}, got '
                             f'{self.metrics!r}')
        if not isinstance(self.gt_channels, int) or self.gt_channels < 1:
            raise ValueError(f'TaskSpec: gt_channels must be a positive int, got '
                             f'{self.gt_channels!r}')
        discrete = self.kind in ('classes', 'binary')
        if self.pred_channels is None:
            object.__setattr__(self, 'pred_channels', 1 if discrete else self.gt_channels)
        if self.ignore_value is None:
            object.__setattr__(self, 'ignore_value', 255 if discrete else 0.0)
        if self.gt_dtype is None:
            object.__setattr__(self, 'gt_dtype', 'uint8' if discrete else 'float32')
        # Stored as pairs so that the spec stays hashable and immutable.
        signs = self.flip_signs
        items = signs.items() if isinstance(signs, Mapping) else signs
        normalised = []
        for direction, factors in items:
            if direction not in _FLIP_DIRECTIONS:
                raise ValueError(f'TaskSpec: flip_signs direction must be one of '
                                 f'{_FLIP_DIRECTIONS}, got {direction!r}')
            if factors is not None:
                factors = tuple(float(f) for f in factors)
                if len(factors) != self.gt_channels:
                    raise ValueError(f'TaskSpec: flip_signs[{direction!r}] has {len(factors)} '
                                     f'factors for {self.gt_channels} channel(s)')
            normalised.append((direction, factors))
        object.__setattr__(self, 'flip_signs', tuple(normalised))

    @property
    def discrete(self) -> bool:
        """Whether the ground truth holds labels (resized with nearest neighbour)."""
        return self.kind in ('classes', 'binary')

    @property
    def pred(self) -> str:
        """What ``pred_<task>`` holds: ``'label'`` (argmax class, int64), ``'prob'``
        (foreground probability in [0, 1]) or ``'value'`` (float regression map)."""
        return _PRED_OF_KIND[self.kind]

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The summary metrics reported for the task."""
        return tuple(TASK_EVALUATIONS[self.metrics])

    def flip_sign(self, direction: str) -> tuple[float, ...] | None:
        """Per-channel factors applied after a ``direction`` flip (``None``: unchanged).

        Raises:
            NotImplementedError: the task does not support flips along ``direction``.
        """
        for name, factors in self.flip_signs:
            if name == direction:
                return factors
        raise NotImplementedError(
            f'a {direction!r} flip is not defined for a {self.title} map (TaskSpec.flip_signs '
            f'allows {[name for name, _ in self.flip_signs]})')


#: Every known task, by name, in a canonical order. Extend it with :func:`register_task`.
TASK_SPECS: dict[str, TaskSpec] = {
    'semseg': TaskSpec('classes', 'segmentation', 'semseg', metainfo_prefix=''),
    'human_parts': TaskSpec('classes', 'segmentation', 'human parts'),
    # Saliency is a 2-class labelling (0 background, 1 salient) trained with balanced CE;
    # its prediction is the foreground probability, thresholded by the metric.
    'sal': TaskSpec('binary', 'saliency', 'saliency'),
    # Boundary maps are {0, 1}; 255 marks padding.
    'edge': TaskSpec('binary', 'boundary', 'boundaries'),
    'depth': TaskSpec('regression', 'depth', 'depth', min_value=0.0, divide_by_zoom=True,
                      unit='m'),
    # The x component of a normal changes sign under a horizontal flip (the official code's
    # convention); these datasets agree on no vertical convention, so that flip is refused.
    'normals': TaskSpec('unit_vector', 'normals', 'normals', gt_channels=3,
                        flip_signs=dict(horizontal=(-1., 1., 1.))),
}

#: The tasks defined by mmdense itself, which :func:`unregister_task` keeps.
BUILTIN_TASKS = tuple(TASK_SPECS)


def register_task(name: str, spec: TaskSpec, force: bool = False) -> TaskSpec:
    """Add a task to :data:`TASK_SPECS`, so that every multi-task component knows it.

    The model still needs a loss for it (``model.losses.<name>``) and a dataset that loads
    ``gt_<name>``.

    Args:
        name: the task name, used in ``gt_<name>``/``pred_<name>`` and config ``tasks`` lists.
        spec: how the task is stored, augmented, predicted, evaluated and drawn.
        force: replace an existing task of the same name.

    Returns:
        TaskSpec: ``spec``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f'register_task: the task name must be an identifier (it names the '
                         f'fields gt_<task>/pred_<task>), got {name!r}')
    if not isinstance(spec, TaskSpec):
        raise TypeError(f'register_task: spec of {name!r} must be a TaskSpec, got '
                        f'{type(spec).__name__}')
    if name in TASK_SPECS and not force and TASK_SPECS[name] != spec:
        raise KeyError(f'register_task: task {name!r} is already registered with '
                       f'{TASK_SPECS[name]}; pass force=True to replace it')
    TASK_SPECS[name] = spec
    return spec


def unregister_task(name: str) -> None:
    """Remove a task added by :func:`register_task` (the built-in tasks stay)."""
    if name in BUILTIN_TASKS:
        raise KeyError(f'unregister_task: {name!r} is a built-in task')
    TASK_SPECS.pop(name, None)


def metainfo_key(task: str, key: str) -> str:
    """The dataset metainfo key holding ``key`` (``'classes'``, ``'palette'``,
    ``'tolerance'``) for ``task``: ``'classes'`` for semseg, ``'human_parts_classes'``, ..."""
    prefix = TASK_SPECS[task].metainfo_prefix
    return (f'{task}_' if prefix is None else prefix) + key
