"""The data sample shared by multi-task datasets, models, metrics and visualisers.

Conventions (every mmdense multi-task component relies on them):

* ground truth of task ``t`` is ``sample.gt_<t>`` and the prediction is ``sample.pred_<t>``,
  both :class:`~mmengine.structures.PixelData` whose ``data`` is a ``(C, H, W)`` tensor;
* ``metainfo['tasks']`` lists the tasks of the sample, in the model's order;
* what each task is (value layout, ignore value, flips, metrics, title) is given by
  :data:`~mmdense.structures.task_spec.TASK_SPECS`.
"""
from mmengine.structures import BaseDataElement, PixelData

from .task_spec import TASK_SPECS, TaskSpec

__all__ = ['MultiTaskDataSample', 'TASK_SPECS', 'TaskSpec']


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
