"""DeMT: deformable mixer encoder, task interaction and task query decoder (Xu et al. 2023)."""
from .demt_head import DeMTHead

__all__ = ['DeMTHead']
