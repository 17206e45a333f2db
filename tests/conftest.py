"""Test-session hooks: tests marked ``cuda`` are skipped where no CUDA device is visible."""
import pytest


def pytest_collection_modifyitems(config, items):
    cuda_items = [item for item in items if item.get_closest_marker('cuda')]
    if not cuda_items:
        return
    import torch
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU (run tools/analysis_tools/gpu_check.sh)')
    for item in cuda_items:
        item.add_marker(skip)
