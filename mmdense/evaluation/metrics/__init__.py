from .multitask_metric import MultiTaskMetric
from .panoptic_quality import PanopticQualityMetric

__all__ = ['MultiTaskMetric', 'PanopticQualityMetric']
