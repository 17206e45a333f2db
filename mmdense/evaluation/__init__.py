from .metrics import MultiTaskMetric, PanopticQualityMetric

__all__ = ['MultiTaskMetric', 'PanopticQualityMetric']
