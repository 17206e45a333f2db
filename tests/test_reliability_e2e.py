"""End-to-end reliability of tools/train.py (issue 14): NaN losses, crashes during a checkpoint
write, resume without a checkpoint, distributed validation."""
import math
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers.run_tool import run_tool
from tests.helpers.seg_fixture import REPO, write_seg_config, write_seg_fixture

pytestmark = pytest.mark.slow

HELPERS = ("custom_imports = dict(imports=['tests.helpers.reliability_hooks'], "
           'allow_failed_imports=False)\n')


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def _error_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.startswith('error: ')]


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_seg_fixture(str(tmp_path_factory.mktemp('reliability') / 'data'))


def test_non_finite_loss_stops_before_saving(tmp_path, data):
    # lr 1e6: the loss overflows to NaN at iteration 4; checkpoints every iteration, 2 kept.
    cfg = write_seg_config(str(tmp_path / 'nan.py'), data, max_iters=8, interval=1,
                           extra="default_hooks['checkpoint']['max_keep_ckpts'] = 2\n")
    work = str(tmp_path / 'work')
    proc = run_tool('tools/train.py', cfg, '--work-dir', work, '--cfg-options',
                    'optim_wrapper.optimizer.lr=1e6', check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line, ) = _error_lines(proc)
    assert 'non-finite loss at iteration' in line
    assert 'loss=nan' in line or 'loss=inf' in line
    assert 'decode.loss_ce=' in line
    step = int(line.split('iteration ')[1].split(':')[0])
    assert step < 8
    # Nothing of the diverged state was written; the newest checkpoint is complete and finite.
    with open(osp.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    assert last == osp.join(work, f'iter_{step - 1}.pth')
    assert not osp.exists(osp.join(work, f'iter_{step}.pth'))
    for name in os.listdir(work):
        if name.endswith('.pth'):
            state = _load(osp.join(work, name))['state_dict']
            assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def _kill_during_write(cfg, work, name):
    env = dict(os.environ, OMP_NUM_THREADS='1', MMDENSE_TEST_SLOW_SAVE=name,
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.Popen([sys.executable, 'tools/train.py', cfg, '--work-dir', work],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 400
    try:
        while time.time() < deadline and proc.poll() is None:
            if any(f.endswith('.writing') for f in os.listdir(work) if osp.isdir(work)):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_kill_during_checkpoint_write_then_resume(tmp_path, data):
    """max_keep_ckpts=1 and a kill while iter_4.pth is written: iter_2.pth must survive, and
    --resume must reach the weights of an uninterrupted run."""
    cfg = write_seg_config(str(tmp_path / 'keep1.py'), data, max_iters=6, interval=2,
                           extra=HELPERS + "default_hooks['checkpoint']['max_keep_ckpts'] = 1\n")
    reference = str(tmp_path / 'reference')
    # Every run single-threaded, like the killed one: weights are compared bit for bit, and
    # float sums do not round alike at other thread counts.
    one_thread = {'OMP_NUM_THREADS': '1'}
    run_tool('tools/train.py', cfg, '--work-dir', reference, env=one_thread)

    work = str(tmp_path / 'killed')
    os.makedirs(work)
    _kill_during_write(cfg, work, 'iter_4.pth')
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(work, 'iter_2.pth')
    assert _load(osp.join(work, 'iter_2.pth'))['meta']['iter'] == 2

    proc = run_tool('tools/train.py', cfg, '--work-dir', work, '--resume', env=one_thread)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == ['iter_6.pth']
    resumed = _load(osp.join(work, 'iter_6.pth'))['state_dict']
    expected = _load(osp.join(reference, 'iter_6.pth'))['state_dict']
    assert resumed.keys() == expected.keys()
    for key in expected:
        assert torch.allclose(resumed[key].float(), expected[key].float(), atol=1e-6), key


def test_resume_without_checkpoint(tmp_path, data):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), data, max_iters=2, interval=2)
    work = str(tmp_path / 'work')
    proc = run_tool('tools/train.py', cfg, '--work-dir', work, '--resume', check=False)
    assert proc.returncode == 2
    (line, ) = _error_lines(proc)
    assert f"work dir '{work}' has no complete checkpoint" in line and '--resume auto' in line
    assert 'Traceback' not in proc.stderr
    # "resume if possible": a new run now, a resume the second time.
    proc = run_tool('tools/train.py', cfg, '--work-dir', work, '--resume', 'auto')
    assert 'has no checkpoint yet; starting a new run' in proc.stdout + proc.stderr
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    proc = run_tool('tools/train.py', cfg, '--work-dir', work, '--resume', 'auto',
                    '--cfg-options', 'train_cfg.max_iters=3')
    assert 'resumed' in (proc.stdout + proc.stderr).lower()
    assert _load(osp.join(work, 'iter_3.pth'))['meta']['iter'] == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_distributed_validation_uses_the_saved_buffers(tmp_path, data):
    """2 gloo ranks, per-rank BN: validation must run with rank 0's statistics, the saved ones."""
    cfg = write_seg_config(str(tmp_path / 'dist.py'), data, max_iters=4, interval=2,
                           extra=HELPERS + "custom_hooks = [dict(type='DumpValBuffersHook')]\n")
    work = str(tmp_path / 'work')
    run_tool('tools/dist_train.sh', cfg, '2', '--work-dir', work,
             env={'PORT': str(random.randint(20000, 40000))})
    for step in (2, 4):
        saved = _load(osp.join(work, f'iter_{step}.pth'))['state_dict']
        ranks = [_load(osp.join(work, f'rank{r}_val{step}.pth')) for r in (0, 1)]
        running = [k for k in ranks[0] if k.endswith('running_mean')]
        assert running
        for key in running + [k.replace('mean', 'var') for k in running]:
            for rank in ranks:
                assert torch.equal(rank[key], saved[key]), (step, key)
        assert not math.isnan(float(saved[running[0]].sum()))
