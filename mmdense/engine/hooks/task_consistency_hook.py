"""Check the tasks of a multi-task config when the run starts."""
from mmengine.hooks import Hook

from mmdense.registry import HOOKS
from mmdense.utils.task_consistency import check_task_consistency


@HOOKS.register_module()
class TaskConsistencyHook(Hook):
    """Run :func:`~mmdense.utils.task_consistency.check_task_consistency` on the runner's
    config in ``before_run``, so a training, validation or test run built from any entry point
    stops before its first iteration when head, losses, datasets and evaluators disagree.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        check_task_consistency(runner.cfg)
