"""Bad input to the tools gives a one-line, actionable error (not a traceback)."""
import pytest
import torch

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


# ---------------------------------------------------------------------------------------------
# Issue 14, item 9 (and 6): one-line errors naming the offending thing
# ---------------------------------------------------------------------------------------------
def _assert_error_line(proc, *fragments):
    """One ``error:`` line and no traceback (library warnings printed before it may remain)."""
    assert proc.returncode == 2, proc.stderr
    assert 'Traceback' not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1, proc.stderr
    for frag in fragments:
        assert frag in errors[0], errors[0]


def test_unwritable_work_dir(tmp_path):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), write_seg_fixture(str(tmp_path / 'd')))
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    proc = run_tool('tools/train.py', cfg, '--work-dir', str(blocker / 'run'), check=False)
    _assert_one_line_error(proc, 'work dir', str(blocker / 'run'), 'not writable')


def test_wrong_value_type_in_cfg_options_names_the_key(tmp_path):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), write_seg_fixture(str(tmp_path / 'd')))
    proc = run_tool('tools/train.py', cfg, '--cfg-options', 'train_cfg.max_iters=abc',
                    check=False)
    _assert_one_line_error(proc, 'train_cfg.max_iters', "'abc'", 'must be a number')


def test_unknown_registry_type_names_the_key_and_suggests(tmp_path):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), write_seg_fixture(str(tmp_path / 'd')),
                           extra="model['decode_head']['type'] = 'FCNHaed'\n")
    proc = run_tool('tools/train.py', cfg, '--work-dir', str(tmp_path / 'w'), check=False)
    _assert_error_line(proc, "unknown type 'FCNHaed' at model.decode_head.type",
                           "Did you mean 'FCNHead'?")


def test_test_tool_unknown_registry_type_and_task_mismatch(tmp_path):
    """tools/test.py gives the same one-line errors as tools/train.py."""
    data = write_seg_fixture(str(tmp_path / 'd'))
    ckpt = str(tmp_path / 'any.pth')
    torch.save({'state_dict': {}}, ckpt)
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), data,
                           extra="model['decode_head']['type'] = 'FCNHaed'\n")
    proc = run_tool('tools/test.py', cfg, ckpt, '--work-dir', str(tmp_path / 'w'), check=False)
    _assert_error_line(proc, "unknown type 'FCNHaed' at model.decode_head.type",
                       "Did you mean 'FCNHead'?")

    from tests.helpers.multitask_fixtures import write_nyud_fixture

    root = str(write_nyud_fixture(tmp_path / 'nyud', num_train=1, num_val=1))
    proc = run_tool(
        'tools/test.py', 'configs/demt/quickstart_synthetic-nyud.py', ckpt,
        '--work-dir', str(tmp_path / 'w2'), '--cfg-options',
        f'test_dataloader.dataset.data_root={root}',
        'test_evaluator.tasks=[semseg,depth,normals,edge,sal]', check=False)
    _assert_error_line(proc, 'tasks of the config disagree', 'test_evaluator')


def test_undownloadable_pretrained_weights(tmp_path):
    url = 'https://mmdense.invalid/weights/resnet18_tiny.pth'
    cfg = write_seg_config(
        str(tmp_path / 'cfg.py'), write_seg_fixture(str(tmp_path / 'd')),
        extra=f"model['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint={url!r})\n")
    proc = run_tool('tools/train.py', cfg, '--work-dir', str(tmp_path / 'w'), check=False,
                    env={'TORCH_HOME': str(tmp_path / 'torch')})
    cache = str(tmp_path / 'torch' / 'hub' / 'checkpoints' / 'resnet18_tiny.pth')
    _assert_error_line(proc, url, cache, '--cfg-options model.backbone.init_cfg=None')


def test_persistent_workers_without_workers_trains(tmp_path):
    cfg = write_seg_config(str(tmp_path / 'cfg.py'), write_seg_fixture(str(tmp_path / 'd')),
                           max_iters=1, interval=1,
                           extra="train_dataloader['persistent_workers'] = True\n")
    proc = run_tool('tools/train.py', cfg, '--work-dir', str(tmp_path / 'w'))
    assert 'persistent_workers=True needs num_workers > 0; turned off' in proc.stdout


def test_task_mismatch_fails_before_the_first_iteration(tmp_path):
    from tests.helpers.multitask_fixtures import write_nyud_fixture

    root = str(write_nyud_fixture(tmp_path / 'nyud', num_train=2, num_val=1))
    proc = run_tool(
        'tools/train.py', 'configs/demt/quickstart_synthetic-nyud.py',
        '--work-dir', str(tmp_path / 'w'), '--cfg-options',
        f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
        'val_evaluator.tasks=[semseg,depth,normals,edge,sal]', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=1', check=False)
    _assert_error_line(proc, 'val_evaluator.tasks', "evaluates ['sal']", 'model.decode_head.tasks')
    assert 'Iter(train)' not in proc.stdout
