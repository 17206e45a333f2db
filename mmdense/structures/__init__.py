from .multitask_data_sample import MultiTaskDataSample
from .task_spec import (
    TASK_EVALUATIONS,
    TASK_KINDS,
    TASK_SPECS,
    TaskSpec,
    metainfo_key,
    register_task,
    unregister_task,
)

__all__ = ['MultiTaskDataSample', 'TaskSpec', 'TASK_SPECS', 'TASK_KINDS', 'TASK_EVALUATIONS',
           'register_task', 'unregister_task', 'metainfo_key']
