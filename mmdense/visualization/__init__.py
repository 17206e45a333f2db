from .multitask_visualizer import MultiTaskVisualizer

__all__ = ['MultiTaskVisualizer']
from .panoptic_visualizer import PanopticLocalVisualizer  # noqa: F401
