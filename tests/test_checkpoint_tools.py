"""tools/test.py and tools/train.py with unsafe, corrupt and ill-fitting checkpoints.

tools/test.py loads strictly: every kind of mismatch stops it with the list; ``--allow-partial``
loads what fits on purpose. Both tools refuse a checkpoint that would run code (it would write a
marker file), and name a corrupt file in a one-line error.
"""
import os.path as osp

import pytest
import torch

from tests.helpers.run_tool import run_tool
from tests.helpers.seg_fixture import write_seg_config, write_seg_fixture
from tests.helpers.unsafe_checkpoints import garbage_files, write_evil

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpt_tools')
    data = write_seg_fixture(str(root / 'data'), num_train=2, num_val=1)
    cfg = write_seg_config(str(root / 'tiny_fcn.py'), data, max_iters=2, interval=2)
    work = str(root / 'work')
    run_tool('tools/train.py', cfg, '--work-dir', work)
    return dict(root=root, cfg=cfg, ckpt=osp.join(work, 'iter_2.pth'))


def last_error(proc, *fragments):
    """The run failed with exit code 2 and one ``error:`` line naming ``fragments``."""
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith('error: '), line
    for fragment in fragments:
        assert fragment in line, line
    return line


def variant(trained, name, edit):
    ckpt = torch.load(trained['ckpt'], map_location='cpu', weights_only=False)
    edit(ckpt['state_dict'])
    path = str(trained['root'] / name)
    torch.save(ckpt, path)
    return path


def run_test(trained, ckpt, *args):
    return run_tool('tools/test.py', trained['cfg'], ckpt, '--work-dir',
                    str(trained['root'] / 'test_work'), *args, check=False)


def test_good_checkpoint_is_scored(trained):
    proc = run_test(trained, trained['ckpt'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'mIoU' in proc.stdout + proc.stderr


@pytest.mark.parametrize('name,edit,fragments', [
    ('shape.pth', lambda sd: sd.update({'decode_head.conv_seg.weight': torch.zeros(5, 16, 1, 1)}),
     ['1 shape mismatches', 'decode_head.conv_seg.weight: checkpoint [5, 16, 1, 1] vs model '
      '[3, 16, 1, 1]']),
    ('missing.pth', lambda sd: sd.pop('decode_head.conv_seg.bias'),
     ['1 missing keys (decode_head.conv_seg.bias)']),
    ('unexpected.pth', lambda sd: sd.update({'decode_head.extra.weight': torch.zeros(1)}),
     ['1 unexpected keys (decode_head.extra.weight)']),
    ('empty.pth', lambda sd: sd.clear(), ['missing keys', 'backbone.stem.0.weight']),
])
def test_test_tool_is_strict(trained, name, edit, fragments):
    path = variant(trained, name, edit)
    last_error(run_test(trained, path), path, 'does not fit the model', '--allow-partial',
               *fragments)


def test_allow_partial_loads_what_fits_with_a_warning(trained):
    path = variant(trained, 'partial.pth', lambda sd: sd.pop('decode_head.conv_seg.bias'))
    proc = run_test(trained, path, '--allow-partial')
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = proc.stdout + proc.stderr
    assert 'partial load (--allow-partial): 1 missing keys (decode_head.conv_seg.bias)' in log
    assert 'mIoU' in log


def test_test_tool_refuses_code_and_names_corrupt_files(trained, tmp_path):
    marker = tmp_path / 'PWNED'
    evil = write_evil(tmp_path / 'evil.pth', marker)
    last_error(run_test(trained, evil), evil, 'refusing to unpickle builtins.exec',
               '--unsafe-load')
    assert not marker.exists()
    # --unsafe-load is the opt-in: the payload runs (then the weights do not fit the model).
    proc = run_test(trained, evil, '--unsafe-load')
    assert 'arbitrary code' in proc.stderr
    last_error(proc, evil, 'does not fit the model')
    assert marker.exists()
    files = garbage_files(tmp_path)
    for name in ('garbage.pth', 'truncated.pth'):
        last_error(run_test(trained, files[name]), files[name], 'not a readable checkpoint')


def test_train_tool_resume_and_load_from_refuse_code(trained, tmp_path):
    marker = tmp_path / 'PWNED'
    evil = write_evil(tmp_path / 'evil.pth', marker)
    work = str(tmp_path / 'work')
    proc = run_tool('tools/train.py', trained['cfg'], '--work-dir', work, '--resume', evil,
                    check=False)
    last_error(proc, evil, '--unsafe-load')
    proc = run_tool('tools/train.py', trained['cfg'], '--work-dir', work, '--cfg-options',
                    f'load_from={evil}', check=False)
    last_error(proc, evil, '--unsafe-load')
    assert not marker.exists()
    proc = run_tool('tools/train.py', trained['cfg'], '--work-dir', work, '--resume', evil,
                    '--unsafe-load', check=False)
    assert 'arbitrary code' in proc.stderr and marker.exists()
    truncated = garbage_files(tmp_path)['truncated.pth']
    proc = run_tool('tools/train.py', trained['cfg'], '--work-dir', work, '--resume', truncated,
                    check=False)
    line = last_error(proc, truncated)
    assert 'truncated' in line or 'not a readable checkpoint' in line, line
    proc = run_tool('tools/train.py', trained['cfg'], '--work-dir', work, '--cfg-options',
                    f'load_from={truncated}', check=False)
    last_error(proc, truncated, 'not a readable checkpoint')


def test_train_tool_resumes_its_own_checkpoint_without_opt_in(trained, tmp_path):
    proc = run_tool('tools/train.py', trained['cfg'], '--work-dir', str(tmp_path / 'w'),
                    '--resume', trained['ckpt'], '--cfg-options', 'train_cfg.max_iters=3')
    assert 'Advance dataloader 2 steps' in proc.stdout + proc.stderr
    assert osp.isfile(tmp_path / 'w' / 'iter_3.pth')
