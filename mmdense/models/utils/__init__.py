"""Pieces shared by several models (only those: a piece of one model lives beside it)."""
from .attention import CPU_EXPLICIT_MAX_KEYS, MultiHeadSettingsMixin, dot_product_attention

__all__ = ['dot_product_attention', 'MultiHeadSettingsMixin', 'CPU_EXPLICIT_MAX_KEYS']
