"""Test-session hooks.

* Tests marked ``cuda`` are skipped where no CUDA device is visible.
* Under pytest-xdist (``tools/run.sh test`` runs ``-n``/``--dist loadgroup``), the tests of a
  module that share a module- or session-scoped fixture of ours (a trained work dir, a written
  dataset) go to one worker, so the fixture is built once; every other test is distributed on
  its own. Each worker computes with one thread, as the tools the tests launch do.
"""
import os

import pytest


def pytest_configure(config):
    if os.environ.get('PYTEST_XDIST_WORKER') and 'OMP_NUM_THREADS' not in os.environ:
        # Two workers with two threads each would oversubscribe a 2-core machine.
        import torch
        torch.set_num_threads(1)


def _shares_a_fixture(item) -> bool:
    info = getattr(item, '_fixtureinfo', None)
    if info is None:
        return False
    for defs in info.name2fixturedefs.values():
        for fixturedef in defs:
            module = getattr(fixturedef.func, '__module__', '') or ''
            if fixturedef.scope != 'function' and module.startswith('tests'):
                return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if _shares_a_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    cuda_items = [item for item in items if item.get_closest_marker('cuda')]
    if not cuda_items:
        return
    import torch
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU (run tools/analysis_tools/gpu_check.sh)')
    for item in cuda_items:
        item.add_marker(skip)
