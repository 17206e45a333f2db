import subprocess
import sys

import pytest

# Counts glibc's mmapped blocks (mallinfo2().hblks) while a 64 MiB tensor is alive: above
# glibc's largest dynamic mmap threshold (32 MiB), so mmapped (and unmapped, its pages lost,
# when freed) unless the thresholds were raised.
_SCRIPT = """
import ctypes, sys
import torch
from mmdense.utils import tune_cpu_allocator
if sys.argv[1] == '1':
    assert tune_cpu_allocator() and tune_cpu_allocator()  # idempotent
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks',
        'fordblks', 'keepcost')]
libc = ctypes.CDLL('libc.so.6')
libc.mallinfo2.restype = MallInfo2
before = libc.mallinfo2().hblkhd
x = torch.ones(16 << 20)
print(libc.mallinfo2().hblkhd - before)
"""


def _mmapped_bytes(tuned: bool) -> int:
    out = subprocess.run([sys.executable, '-c', _SCRIPT, '1' if tuned else '0'], check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc only')
def test_tuned_allocator_keeps_large_blocks_in_the_heap():
    assert _mmapped_bytes(tuned=False) >= 64 << 20
    assert _mmapped_bytes(tuned=True) == 0
