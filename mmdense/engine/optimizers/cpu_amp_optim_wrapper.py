"""Mixed precision on CPU: bf16 autocast in the optimizer wrapper's context."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from mmdense.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """Run the forward pass under ``torch.autocast('cpu')`` (bf16 by default).

    mmengine's ``AmpOptimWrapper`` only runs on accelerators. bf16 has fp32's exponent range, so
    no loss scaling is needed. ``tools/train.py --amp`` picks this wrapper when CUDA is absent.

    Args:
        dtype: autocast dtype name, ``'bfloat16'`` (default) or ``'float16'``.
        **kwargs: arguments of :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs):
        kwargs.pop('loss_scale', None)  # kept by configs written for AmpOptimWrapper
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield
