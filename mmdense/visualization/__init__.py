from .multitask_visualizer import MultiTaskVisualizer
from .panoptic_visualizer import PanopticLocalVisualizer

__all__ = ['MultiTaskVisualizer', 'PanopticLocalVisualizer']
