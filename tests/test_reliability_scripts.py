"""The launch scripts run the project's environment, not whatever ``python`` is on PATH."""
import os
import os.path as osp
import stat
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

SCRIPTS = {
    'tools/dist_train.sh': ['CFG.py', '2', '--amp'],
    'tools/dist_test.sh': ['CFG.py', 'CKPT.pth', '2'],
    'tools/slurm_train.sh': ['PART', 'job', 'CFG.py', 'WORK'],
    'tools/slurm_test.sh': ['PART', 'job', 'CFG.py', 'CKPT.pth'],
}


def _recorder(path, log):
    """An executable that appends its own name and arguments to ``log``."""
    with open(path, 'w') as f:
        f.write(f'#!/bin/sh\necho "$0 $*" >> {log}\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def _env(tmp_path, log, **extra):
    """PATH with a decoy ``python`` and a fake ``srun`` that records its command line."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    _recorder(str(bin_dir / 'python'), log + '.decoy')
    _recorder(str(bin_dir / 'srun'), log)
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'MMDENSE_VENV')}
    env['PATH'] = f'{bin_dir}:/usr/bin:/bin'
    env.update(extra)
    return env


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_scripts_use_the_project_venv(tmp_path, script):
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    log = str(tmp_path / 'calls.log')
    _recorder(str(venv / 'bin' / 'python'), log)
    proc = subprocess.run(['bash', script, *SCRIPTS[script]], cwd=REPO, capture_output=True,
                          text=True, env=_env(tmp_path, log, MMDENSE_VENV=str(venv)),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not osp.exists(log + '.decoy'), 'ran the python found on PATH'
    with open(log) as f:
        call = f.read()
    python = str(venv / 'bin' / 'python')
    assert call.startswith(python) or call.startswith(str(tmp_path / 'bin' / 'srun')), call
    assert f'{python} ' in call, call
    tool = 'train.py' if 'train' in script else 'test.py'
    assert osp.join(REPO, 'tools', tool) in call
    assert 'CFG.py' in call


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_scripts_without_environment_say_how_to_install(tmp_path, script):
    log = str(tmp_path / 'calls.log')
    proc = subprocess.run(['bash', script, *SCRIPTS[script]], cwd=REPO, capture_output=True,
                          text=True, timeout=60,
                          env=_env(tmp_path, log, MMDENSE_VENV=str(tmp_path / 'missing')))
    assert proc.returncode == 2
    assert 'tools/install.sh' in proc.stderr
    assert str(tmp_path / 'missing') in proc.stderr
    assert not osp.exists(log + '.decoy')
