"""The data sample shared by multi-task datasets, models, metrics and visualisers.

Conventions (every mmdense multi-task component relies on them):

* ground truth of task ``t`` is ``sample.gt_<t>`` and the prediction is ``sample.pred_<t>``,
  both :class:`~mmengine.structures.PixelData` whose ``data`` is a ``(C, H, W)`` tensor;
* ``metainfo['tasks']`` lists the tasks of the sample, in the model's order;
* the per-task value layout and ignore values are given by :data:`TASK_SPECS`.
"""
from dataclasses import dataclass

from mmengine.structures import BaseDataElement, PixelData


@dataclass(frozen=True)
class TaskSpec:
    """How one dense task is stored.

    Args:
        gt_channels: channels of the ground-truth map (1 for labels, 3 for normals).
        discrete: whether the ground truth holds class labels (nearest-neighbour resizing).
        ignore_value: value marking an unlabeled pixel in the ground truth (and the value used
            for padding). For depth it is 0 (invalid depth); for normals the zero vector.
        gt_dtype: numpy dtype name of the ground truth array.
        pred: what ``pred_<task>`` holds: ``'label'`` (argmax class, int64), ``'value'`` (float
            regression map) or ``'prob'`` (foreground probability in [0, 1]).
    """

    gt_channels: int
    discrete: bool
    ignore_value: float
    gt_dtype: str
    pred: str


TASK_SPECS: dict[str, TaskSpec] = {
    'semseg': TaskSpec(1, True, 255, 'uint8', 'label'),
    'human_parts': TaskSpec(1, True, 255, 'uint8', 'label'),
    # Saliency is a 2-class labelling (0 background, 1 salient) trained with balanced CE;
    # its prediction is the foreground probability, thresholded by the metric.
    'sal': TaskSpec(1, True, 255, 'uint8', 'prob'),
    # Boundary maps are {0, 1}; 255 marks padding.
    'edge': TaskSpec(1, True, 255, 'uint8', 'prob'),
    'depth': TaskSpec(1, False, 0.0, 'float32', 'value'),
    'normals': TaskSpec(3, False, 0.0, 'float32', 'value'),
}


class MultiTaskDataSample(BaseDataElement):
    """A data sample holding one ``PixelData`` per task for ground truth and prediction.

    Fields are set dynamically: ``sample.gt_depth = PixelData(data=tensor)``; the task list is
    the metainfo field ``tasks`` (``sample.tasks`` once set). Helpers below give uniform access
    by task name.
    """

    def get_gt(self, task: str) -> PixelData | None:
        return self.get(f'gt_{task}', None)

    def set_gt(self, task: str, value: PixelData) -> None:
        self.set_field(value, f'gt_{task}', dtype=PixelData)

    def get_pred(self, task: str) -> PixelData | None:
        return self.get(f'pred_{task}', None)

    def set_pred(self, task: str, value: PixelData) -> None:
        self.set_field(value, f'pred_{task}', dtype=PixelData)
