"""Bad input to the tools gives a one-line, actionable error (not a traceback)."""
import pytest

from tests.helpers.run_tool import run_tool
from tests.helpers.seg_fixture import write_seg_config, write_seg_fixture


def _assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith('error: ')
    assert 'Traceback' not in proc.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


def test_config_that_does_not_exist():
    proc = run_tool('tools/train.py', 'configs/no/such_config.py', check=False)
    _assert_one_line_error(proc, "config file 'configs/no/such_config.py' does not exist")


def test_config_typo_suggests_close_names(tmp_path):
    write_seg_config(str(tmp_path / 'tiny_fcn.py'), str(tmp_path))
    proc = run_tool('tools/train.py', str(tmp_path / 'tiny_fnc.py'), check=False)
    _assert_one_line_error(proc, 'does not exist', 'tiny_fcn.py')


def test_data_root_that_does_not_exist(tmp_path):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), str(tmp_path / 'nowhere'))
    proc = run_tool('tools/train.py', cfg, check=False)
    _assert_one_line_error(proc, 'nowhere', 'does not exist', 'data/README.md',
                           'train_dataloader.dataset.data_root')


@pytest.mark.parametrize('option,bad', [
    ('train_cfg.max_iter=3', "'max_iter'"),
    ('model.backbone.dept=50', "'dept'"),
    ('no_such_key=1', "'no_such_key'"),
])
def test_unknown_cfg_options_key(tmp_path, option, bad):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), write_seg_fixture(str(tmp_path / 'd')))
    proc = run_tool('tools/train.py', cfg, '--cfg-options', option, check=False)
    _assert_one_line_error(proc, bad, 'is not in')


def test_close_key_is_suggested(tmp_path):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), write_seg_fixture(str(tmp_path / 'd')))
    proc = run_tool('tools/train.py', cfg, '--cfg-options', 'train_cfg.max_iter=3', check=False)
    _assert_one_line_error(proc, "Did you mean 'max_iters'")


def test_print_config_applies_options(tmp_path):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), str(tmp_path))
    proc = run_tool('tools/misc/print_config.py', cfg, '--cfg-options',
                    'train_cfg.max_iters=7', 'randomness.seed=5')
    assert 'max_iters=7' in proc.stdout
    assert 'seed=5' in proc.stdout


def test_test_tool_missing_checkpoint(tmp_path):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), write_seg_fixture(str(tmp_path / 'd')))
    proc = run_tool('tools/test.py', cfg, str(tmp_path / 'nope.pth'), check=False)
    _assert_one_line_error(proc, 'nope.pth', 'does not exist')
