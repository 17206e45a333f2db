from .multitask_metric import MultiTaskMetric

__all__ = ['MultiTaskMetric']
from .panoptic_quality import PanopticQualityMetric  # noqa: F401
