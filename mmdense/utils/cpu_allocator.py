"""Process-wide memory allocator settings for CPU runs."""
import ctypes
import ctypes.util
import sys

# glibc's mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_tuned = False


def tune_cpu_allocator(threshold: int = 1 << 30) -> bool:
    """Keep freed large blocks in the process heap instead of returning them to the OS.

    glibc serves blocks above ``M_MMAP_THRESHOLD`` with fresh ``mmap`` pages and gives freed
    heap tops back above ``M_TRIM_THRESHOLD``. A network's activations are such large blocks,
    allocated and freed on every forward, so each forward faults all their pages in again
    (thousands of page faults, each zeroing 4 KiB, per forward of a small backbone). Raising
    both thresholds lets glibc reuse the pages, as jemalloc/tcmalloc or PyTorch's GPU caching
    allocator do. It changes no result, only the time; the price is that the resident memory
    stays at its peak (what the largest forward/backward needed) instead of shrinking back.

    This is what ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` in the environment do,
    but set from inside the process, so every user of the tools gets it. It has no effect (and
    returns False) off glibc, e.g. on macOS, Windows or musl.

    Args:
        threshold (int): Bytes for both thresholds. Defaults to 1 GiB.

    Returns:
        bool: Whether the setting was applied.
    """
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; glibc rejects an mmap threshold above its maximum.
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, threshold))
    return _tuned
