"""Reliability checks that need no training run (issue 14): labels, hooks, config checks."""
import math
import os
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger

from mmdense.datasets import NYUDv2MultiTaskDataset
from mmdense.datasets.transforms import LoadMultiTaskAnnotations
from mmdense.engine.hooks import (
    NonFiniteLossError,
    NonFiniteLossHook,
    is_complete_checkpoint,
    latest_complete_checkpoint,
)
from mmdense.engine.hooks.safe_checkpoint_hook import non_finite_tensors
from mmdense.utils import register_all_modules
from mmdense.utils.cli import (
    UserInputError,
    check_cfg_value,
    check_work_dir,
    explain_download_error,
    explain_registry_error,
    fix_persistent_workers,
    remote_pretrained_weights,
)
from mmdense.utils.task_consistency import TaskConsistencyError, check_task_consistency
from tests.helpers.multitask_fixtures import write_nyud_fixture

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
register_all_modules(init_default_scope=False)


# ---------------------------------------------------------------------------------------------
# Item 4: labels that are well-formed but wrong
# ---------------------------------------------------------------------------------------------
def _load(tmp_path, depth=None, seg=None, num_classes=None, depth_scale=None):
    import mmcv

    h, w = 4, 5
    results = dict(img=np.zeros((h, w, 3), np.uint8), img_path='img.png', label_specs={},
                   tasks=[], label_num_classes=num_classes or {})
    if depth is not None:
        np.save(tmp_path / 'd.npy', depth)
        spec = dict(type='npy_depth', path=str(tmp_path / 'd.npy'))
        if depth_scale is not None:
            spec['depth_scale'] = depth_scale
        results['label_specs']['depth'] = spec
        results['tasks'].append('depth')
    if seg is not None:
        mmcv.imwrite(seg, str(tmp_path / 's.png'))
        results['label_specs']['semseg'] = dict(type='png_label', path=str(tmp_path / 's.png'))
        results['tasks'].append('semseg')
    return LoadMultiTaskAnnotations()(results)


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_depth_is_refused_naming_the_file(tmp_path, bad):
    depth = np.ones((4, 5), np.float32)
    depth[1, 2] = bad
    with pytest.raises(ValueError, match=r'd\.npy: depth label has 1 non-finite value'):
        _load(tmp_path, depth=depth)


def test_negative_depth_is_refused(tmp_path):
    depth = np.ones((4, 5), np.float32)
    depth[0, 0] = -1.
    with pytest.raises(ValueError, match=r'd\.npy: depth label has negative values'):
        _load(tmp_path, depth=depth)


def test_integer_depth_is_refused_or_scaled_explicitly(tmp_path):
    mm = np.full((4, 5), 2500, np.uint16)
    mm[0, 0] = 0
    with pytest.raises(ValueError, match=r'd\.npy: depth is stored as uint16 .*depth_scale=0\.001'):
        _load(tmp_path, depth=mm)
    out = _load(tmp_path, depth=mm, depth_scale=0.001)
    assert out['gt_depth'].dtype == np.float32
    assert out['gt_depth'][1, 1] == pytest.approx(2.5) and out['gt_depth'][0, 0] == 0


def test_class_ids_beyond_the_dataset_classes_are_refused(tmp_path):
    seg = np.zeros((4, 5), np.uint8)
    seg[0, 0] = 255  # ignore: valid
    seg[1, 1] = 39
    _load(tmp_path, seg=seg, num_classes=dict(semseg=40))
    seg[2, 2] = 45
    with pytest.raises(ValueError, match=r's\.png: semseg label has value\(s\) 45 outside the '
                                         r'valid range 0\.\.39 or 255'):
        _load(tmp_path, seg=seg, num_classes=dict(semseg=40))


def test_dataset_depth_scale_and_class_counts(tmp_path):
    root = write_nyud_fixture(tmp_path / 'nyud', num_train=1, num_val=1)
    sample = sorted(os.listdir(root / 'depth'))[0]
    metres = np.load(root / 'depth' / sample)
    np.save(root / 'depth' / sample, np.round(metres * 1000).astype(np.uint16))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadMultiTaskAnnotations')]
    plain = NYUDv2MultiTaskDataset(data_root=str(root), split='train', pipeline=pipeline)
    with pytest.raises(ValueError, match=sample.replace('.', r'\.') + '.*depth_scale'):
        plain[0]
    scaled = NYUDv2MultiTaskDataset(data_root=str(root), split='train', pipeline=pipeline,
                                    depth_scale=0.001)
    out = scaled[0]
    assert np.allclose(out['gt_depth'], metres, atol=6e-4)
    assert out['label_num_classes'] == dict(semseg=40, edge=2)
    with pytest.raises(ValueError, match='depth_scale must be a positive number'):
        NYUDv2MultiTaskDataset(data_root=str(root), depth_scale=-1)


# ---------------------------------------------------------------------------------------------
# Item 2: non-finite loss
# ---------------------------------------------------------------------------------------------
def _runner(iteration=1):
    hub = MessageHub.get_instance('reliability-test')
    return SimpleNamespace(iter=iteration, logger=MMLogger.get_instance('reliability-test'),
                           message_hub=hub)


def test_non_finite_loss_hook_names_iteration_and_terms():
    hook = NonFiniteLossHook()
    runner = _runner(iteration=1)
    finite = dict(loss=torch.tensor(1.5), decode_loss_ce=torch.tensor(1.5),
                  acc=torch.tensor(float('nan')))  # not a loss term: ignored
    hook.after_train_iter(runner, 0, outputs=finite)
    bad = dict(loss=torch.tensor(float('nan')), decode_loss_ce=torch.tensor(float('nan')),
               aux_loss=torch.tensor(0.3))
    with pytest.raises(NonFiniteLossError) as info:
        hook.after_train_iter(runner, 0, outputs=bad)
    message = str(info.value)
    assert 'iteration 2' in message
    assert 'loss=nan' in message and 'decode_loss_ce=nan' in message
    assert 'aux_loss' not in message


def test_non_finite_weights_are_named():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    assert non_finite_tensors(model) == []
    with torch.no_grad():
        model[0].bias[1] = math.inf
    model[1].running_var[0] = math.nan
    assert non_finite_tensors(model) == ['0.bias', '1.running_var']


# ---------------------------------------------------------------------------------------------
# Items 5 and 8: which checkpoint a resume uses
# ---------------------------------------------------------------------------------------------
def test_resume_skips_truncated_and_missing_checkpoints(tmp_path, capsys):
    good = str(tmp_path / 'iter_2.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(3))), good)
    with open(good, 'rb') as f:
        data = f.read()
    with open(tmp_path / 'iter_4.pth', 'wb') as f:
        f.write(data[:len(data) // 2])  # cut short, as by a kill during the write
    with open(tmp_path / 'last_checkpoint', 'w') as f:
        f.write(str(tmp_path / 'iter_6.pth'))  # deleted
    assert is_complete_checkpoint(good)
    assert not is_complete_checkpoint(str(tmp_path / 'iter_4.pth'))
    logger = MMLogger.get_instance('resume-test', log_level='WARNING')
    assert latest_complete_checkpoint(str(tmp_path), logger=logger) == good
    log = capsys.readouterr().out
    assert 'WARNING' in log and 'iter_6.pth, which does not exist' in log
    assert f'skipping {tmp_path / "iter_4.pth"}: truncated' in log
    assert latest_complete_checkpoint(str(tmp_path / 'empty')) is None


# ---------------------------------------------------------------------------------------------
# Item 6: tasks of head, losses, datasets and evaluators
# ---------------------------------------------------------------------------------------------
def test_paper_configs_are_consistent():
    for name in ('configs/demt/nyud_hrnet.py', 'configs/demt/pascal_hrnet.py',
                 'configs/demt/quickstart_synthetic-nyud.py'):
        check_task_consistency(Config.fromfile(osp.join(REPO, name)))


def test_inconsistent_tasks_name_the_config_keys():
    cfg = Config.fromfile(osp.join(REPO, 'configs/demt/nyud_hrnet.py'))
    cfg.val_evaluator.tasks = ['semseg', 'depth', 'normals', 'edge', 'sal']
    with pytest.raises(TaskConsistencyError, match=r"val_evaluator\.tasks .* evaluates \['sal'\], "
                                                   r'which model\.decode_head\.tasks'):
        check_task_consistency(cfg)
    cfg = Config.fromfile(osp.join(REPO, 'configs/demt/nyud_hrnet.py'))
    cfg.train_dataloader.dataset.tasks = ['semseg', 'depth', 'normals']
    cfg.test_evaluator.num_classes = dict(semseg=41)
    with pytest.raises(TaskConsistencyError) as info:
        check_task_consistency(cfg)
    message = str(info.value)
    assert "train_dataloader.dataset.tasks ['semseg', 'depth', 'normals'] lacks ['edge']" in \
        message
    assert ('test_evaluator.num_classes.semseg is 41 but '
            'model.decode_head.task_channels.semseg is 40') in message
    assert '\n' not in message


def test_head_classes_must_match_the_dataset():
    cfg = Config.fromfile(osp.join(REPO, 'configs/demt/nyud_hrnet.py'))
    cfg.model.decode_head.task_channels.semseg = 21
    cfg.val_evaluator.num_classes = dict(semseg=21)
    cfg.test_evaluator.num_classes = dict(semseg=21)
    with pytest.raises(TaskConsistencyError, match='task_channels.semseg is 21 but the semseg '
                                                   'classes of train_dataloader.dataset number 40'):
        check_task_consistency(cfg)


# ---------------------------------------------------------------------------------------------
# Item 9: one-line errors
# ---------------------------------------------------------------------------------------------
def test_cfg_option_value_types():
    cfg = Config(dict(train_cfg=dict(max_iters=10, by_epoch=False), model=dict(
        backbone=dict(init_cfg=dict(type='Pretrained')), name='x')))
    with pytest.raises(UserInputError, match=r"train_cfg\.max_iters='abc': train_cfg\.max_iters "
                                             r'must be a number \(the config has 10\)'):
        check_cfg_value(cfg, 'train_cfg.max_iters', 'abc')
    with pytest.raises(UserInputError, match='by_epoch must be a boolean'):
        check_cfg_value(cfg, 'train_cfg.by_epoch', 1)
    for key, value in (('train_cfg.max_iters', 20), ('train_cfg.max_iters', 1e3),
                       ('model.backbone.init_cfg', None), ('model.name', 3),
                       ('new_key', 'x')):
        check_cfg_value(cfg, key, value)


def test_unwritable_work_dir(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    with pytest.raises(UserInputError, match=f"work dir '{blocker}/run' is not writable"):
        check_work_dir(str(blocker / 'run'))
    check_work_dir(str(tmp_path / 'ok' / 'run'))
    assert osp.isdir(tmp_path / 'ok' / 'run')


def test_persistent_workers_without_workers_is_turned_off():
    cfg = Config(dict(train_dataloader=dict(num_workers=0, persistent_workers=True),
                      val_dataloader=dict(num_workers=2, persistent_workers=True),
                      test_dataloader=dict(persistent_workers=True)))
    assert fix_persistent_workers(cfg) == ['train_dataloader', 'test_dataloader']
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True


def test_unknown_registry_type_names_key_and_suggests():
    from mmdense.registry import MODELS

    cfg = Config(dict(model=dict(type='EncoderDecoder', decode_head=dict(type='FCNHaed'))))
    with pytest.raises(KeyError) as info:
        MODELS.build(cfg.model.decode_head)
    message = explain_registry_error(cfg, info.value)
    assert message.startswith("unknown type 'FCNHaed' at model.decode_head.type")
    assert "Did you mean 'FCNHead'?" in message
    assert explain_registry_error(cfg, KeyError('other')) is None


def test_pretrained_download_failure_names_url_cache_and_override(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    cfg = Config(dict(model=dict(backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w18_small')))))
    (weights, ) = remote_pretrained_weights(cfg)
    assert weights['url'].startswith('https://')
    assert weights['cache'] == str(tmp_path / 'torch' / 'hub' / 'checkpoints' /
                                   osp.basename(weights['url']))
    error = urllib.error.URLError('Name or service not known')
    message = explain_download_error(cfg, error)
    assert weights['url'] in message and weights['cache'] in message
    assert '--cfg-options model.backbone.init_cfg=None' in message
    assert explain_download_error(cfg, ValueError('x')) is None
    os.makedirs(osp.dirname(weights['cache']))
    open(weights['cache'], 'w').close()  # cached: the failure is something else
    assert explain_download_error(cfg, error) is None


class _BestRunner:
    """The part of a Runner that ``CheckpointHook._save_best_checkpoint`` uses."""

    def __init__(self, work_dir):
        from mmengine.logging import MessageHub, MMLogger
        self.work_dir, self.epoch, self.iter = work_dir, 0, 0
        self.message_hub = MessageHub.get_instance(f'best-ckpt-{work_dir}')
        self.logger = MMLogger.get_instance(f'best-ckpt-{work_dir}')
        self.crash = False

    def save_checkpoint(self, out_dir, filename, file_client_args=None, save_optimizer=True,
                        save_param_scheduler=True, meta=None, by_epoch=True,
                        backend_args=None):
        path = os.path.join(out_dir, filename)
        if self.crash:  # the process dies half way through the write
            with open(path, 'wb') as f:
                f.write(b'PK\x03\x04 truncated')
            raise KeyboardInterrupt
        torch.save({'meta': meta}, path)


def test_best_checkpoint_is_replaced_only_once_the_new_one_is_complete(tmp_path):
    """mmengine deletes the previous best file before writing the new one in place; a crash
    during that write must leave the previous best checkpoint."""
    from mmengine.fileio.backends import LocalBackend

    from mmdense.engine.hooks import SafeCheckpointHook

    def new_hook(best_path=None):
        hook = SafeCheckpointHook(interval=100, by_epoch=False, save_best='acc', rule='greater')
        hook.out_dir, hook.file_backend = str(tmp_path), LocalBackend()
        hook.best_ckpt_path = best_path
        return hook

    def files():
        return sorted(f for f in os.listdir(tmp_path) if not f.startswith('.tmp-'))

    hook, runner = new_hook(), _BestRunner(str(tmp_path))
    runner.iter = 2
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    runner.iter = 4
    hook._save_best_checkpoint(runner, {'acc': 0.6})
    assert files() == ['best_acc_iter_4.pth']  # the better one replaced the previous one
    assert runner.message_hub.get_info('best_ckpt') == str(tmp_path / 'best_acc_iter_4.pth')
    assert 'remove' not in vars(hook.file_backend)  # the redirection is undone

    runner.iter, runner.crash = 6, True
    with pytest.raises(KeyboardInterrupt):
        hook._save_best_checkpoint(runner, {'acc': 0.7})
    assert files() == ['best_acc_iter_4.pth']  # only the temporary file is partial
    assert torch.load(tmp_path / 'best_acc_iter_4.pth', weights_only=False)['meta']['iter'] == 4

    # The restarted run knows the best checkpoint from its last regular checkpoint.
    hook, runner = new_hook(str(tmp_path / 'best_acc_iter_4.pth')), _BestRunner(str(tmp_path))
    runner.message_hub.update_info('best_score', 0.6)
    runner.iter = 8
    hook._save_best_checkpoint(runner, {'acc': 0.8})
    assert files() == ['best_acc_iter_8.pth']
