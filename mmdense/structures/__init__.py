from .multitask_data_sample import TASK_SPECS, MultiTaskDataSample, TaskSpec

__all__ = ['MultiTaskDataSample', 'TaskSpec', 'TASK_SPECS']
