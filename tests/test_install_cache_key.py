"""tools/install.sh keys its wheel cache by CPU or CUDA build of mmcv's ops."""
import os.path as osp
import subprocess

import pytest

from tests.helpers.seg_fixture import REPO

SCRIPT = osp.join(REPO, 'tools', 'install.sh')


def _key(*args):
    """Run ``wheel_cache_key ARGS`` from the sourced script; (returncode, stdout, stderr)."""
    cmd = 'source "$0"; wheel_cache_key "$@"'
    proc = subprocess.run(['bash', '-c', cmd, SCRIPT, *args], capture_output=True, text=True,
                          timeout=30)
    return proc.returncode, proc.stdout.strip(), proc.stderr.strip()


def test_sourcing_installs_nothing():
    # A sourced script that ran main would create a venv and print "[mmdense install]".
    proc = subprocess.run(['bash', '-c', 'source "$0"; type wheel_cache_key >/dev/null', SCRIPT],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert '[mmdense install]' not in proc.stdout + proc.stderr


@pytest.mark.parametrize('torch_cuda,nvcc,gpu,ask,expected', [
    # The CPU key is the one caches built before CUDA support used: they stay valid.
    ('13.0', '', '0', 'auto', 'cp311-torch2.14.1'),
    ('13.0', '/usr/local/cuda/bin/nvcc', '0', 'auto', 'cp311-torch2.14.1'),
    ('', '/usr/local/cuda/bin/nvcc', '1', 'auto', 'cp311-torch2.14.1'),
    ('13.0', '', '1', 'auto', 'cp311-torch2.14.1'),
    ('13.0', '/usr/local/cuda/bin/nvcc', '1', 'auto', 'cp311-torch2.14.1-cu130'),
    ('12.8', '/opt/cuda/bin/nvcc', '1', 'auto', 'cp311-torch2.14.1-cu128'),
    # A login node without a GPU builds for the GPU nodes when asked.
    ('13.0', '/usr/local/cuda/bin/nvcc', '0', '1', 'cp311-torch2.14.1-cu130'),
    ('13.0', '/usr/local/cuda/bin/nvcc', '1', '0', 'cp311-torch2.14.1'),
])
def test_wheel_cache_key(torch_cuda, nvcc, gpu, ask, expected):
    rc, out, err = _key('cp311', '2.14.1', torch_cuda, nvcc, gpu, ask)
    assert rc == 0, err
    assert out == expected


@pytest.mark.parametrize('torch_cuda,nvcc,ask,message', [
    ('', '/usr/local/cuda/bin/nvcc', '1', 'CPU-only build'),
    ('13.0', '', '1', 'no nvcc'),
    ('13.0', '/usr/local/cuda/bin/nvcc', 'yes', "must be auto, 0 or 1, got 'yes'"),
])
def test_wheel_cache_key_errors(torch_cuda, nvcc, ask, message):
    rc, out, err = _key('cp311', '2.14.1', torch_cuda, nvcc, "0", ask)
    assert rc != 0
    assert out == ''
    assert message in err


def test_cuda_build_passes_force_cuda_to_mmcv():
    with open(SCRIPT) as f:
        script = f.read()
    assert 'FORCE_CUDA=1' in script and 'MMCV_WITH_OPS=1' in script
    assert 'WHEELS="$CACHE/wheels/$wheel_key"' in script
