from .compat import (
    adapt_cfg_amp_for_cpu,
    adapt_cfg_for_cpu_distributed,
    adapt_runner_for_cpu_distributed,
    finish_distributed,
)
from .cpu_allocator import tune_cpu_allocator
from .setup_env import register_all_modules

__all__ = ['register_all_modules', 'adapt_cfg_amp_for_cpu', 'adapt_cfg_for_cpu_distributed',
           'adapt_runner_for_cpu_distributed', 'finish_distributed', 'tune_cpu_allocator']
