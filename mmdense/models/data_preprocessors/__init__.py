from .multitask_data_preprocessor import MultiTaskDataPreProcessor  # noqa: F401
