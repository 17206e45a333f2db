"""End-to-end runs of tools/train.py, tools/test.py and tools/dist_train.sh on a tiny fixture."""
import glob
import os.path as osp
import pickle
import random

import pytest
import torch

from tests.helpers.run_tool import run_tool
from tests.helpers.seg_fixture import write_seg_config, write_seg_fixture

pytestmark = pytest.mark.slow

HOOKS = "custom_imports = dict(imports=['tests.helpers.hooks'], allow_failed_imports=False)\n"


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """An uninterrupted 4-iteration run with validation and checkpoints every 2 iterations."""
    root = tmp_path_factory.mktemp('e2e')
    data = write_seg_fixture(str(root / 'data'))
    cfg = write_seg_config(str(root / 'tiny_fcn.py'), data)
    work = str(root / 'work')
    proc = run_tool('tools/train.py', cfg, '--work-dir', work)
    return dict(root=root, data=data, cfg=cfg, work=work, log=proc.stdout + proc.stderr)


def test_train_validates_and_checkpoints(trained):
    work = trained['work']
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_4.pth')
    assert 'mIoU' in trained['log']
    assert 'Iter(val)' in trained['log']


def test_test_tool_evaluates_dumps_and_draws(trained):
    root, work = trained['root'], trained['work']
    out = str(root / 'preds.pkl')
    show_dir = str(root / 'show')
    proc = run_tool('tools/test.py', trained['cfg'], osp.join(work, 'iter_4.pth'),
                    '--work-dir', str(root / 'test_work'), '--out', out,
                    '--show-dir', show_dir)
    assert 'mIoU' in proc.stdout + proc.stderr
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 2
    assert tuple(preds[0]['pred_sem_seg']['data'].shape) == (1, 32, 48)
    pictures = glob.glob(osp.join(show_dir, '**', '*.png'), recursive=True)
    assert len(pictures) == 2, pictures


def test_crash_then_resume_matches_uninterrupted_run(trained):
    root = trained['root']
    crash_cfg = write_seg_config(
        str(root / 'crash.py'), trained['data'],
        extra=HOOKS + "custom_hooks = [dict(type='CrashAfterIterHook', iter=3)]\n")
    work = str(root / 'work_resumed')
    proc = run_tool('tools/train.py', crash_cfg, '--work-dir', work, check=False)
    assert proc.returncode != 0
    assert 'simulated crash after iteration 3' in proc.stderr
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert not osp.isfile(osp.join(work, 'iter_4.pth'))
    # The checkpoint left by the crashed run is loadable and --resume continues from it.
    proc = run_tool('tools/train.py', crash_cfg, '--work-dir', work, '--resume',
                    '--cfg-options', 'custom_hooks=[]')
    assert 'resumed' in (proc.stdout + proc.stderr).lower()
    _assert_same_weights(_weights(osp.join(work, 'iter_4.pth')),
                         _weights(osp.join(trained['work'], 'iter_4.pth')))


def test_resume_from_explicit_checkpoint(trained):
    root = trained['root']
    work = str(root / 'work_explicit')
    proc = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                    '--resume', osp.join(trained['work'], 'iter_2.pth'))
    assert 'Advance dataloader 2 steps' in proc.stdout + proc.stderr
    _assert_same_weights(_weights(osp.join(work, 'iter_4.pth')),
                         _weights(osp.join(trained['work'], 'iter_4.pth')))


def test_amp_training_runs(trained):
    work = str(trained['root'] / 'work_amp')
    proc = run_tool('tools/train.py', trained['cfg'], '--work-dir', work, '--amp',
                    '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2')
    log = proc.stdout + proc.stderr
    if not torch.cuda.is_available():
        assert 'bf16 autocast on CPU' in log
    ckpt = torch.load(osp.join(work, 'iter_2.pth'), map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_dist_train_two_ranks_on_cpu(trained):
    root = trained['root']
    cfg = write_seg_config(
        str(root / 'dist.py'), trained['data'],
        extra=HOOKS + "custom_hooks = [dict(type='DumpRankWeightsHook')]\n")
    work = str(root / 'work_dist')
    proc = run_tool('tools/dist_train.sh', cfg, '2', '--work-dir', work,
                    env={'PORT': str(random.randint(20000, 40000))})
    log = proc.stdout + proc.stderr
    assert 'gloo' in log
    rank0 = torch.load(osp.join(work, 'rank0_weights.pth'), weights_only=False)
    rank1 = torch.load(osp.join(work, 'rank1_weights.pth'), weights_only=False)
    _assert_same_weights(rank0, rank1)
    # Training moved the weights away from the uninterrupted single-process start.
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
