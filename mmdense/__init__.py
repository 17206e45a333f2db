"""mmdense: dense-prediction transformers on MMEngine, MMSegmentation and MMPose."""
from .utils.compat import apply_all as _apply_compat

__version__ = '0.1.0'

# Upstream workarounds (mmdense/utils/compat.py) must be active before any checkpoint is
# loaded or any process group is initialised, so they are applied on import.
_apply_compat()

__all__ = ['__version__']
