"""tools/analysis_tools/mtl_baselines.py: single-task configs, --dry-run, collected baselines."""
import importlib.util
import json
import os.path as osp

import pytest
from mmengine.config import Config

from mmdense.registry import METRICS
from mmdense.utils import register_all_modules
from tests.helpers.seg_fixture import REPO

register_all_modules(init_default_scope=False)
_spec = importlib.util.spec_from_file_location(
    'mtl_baselines', osp.join(REPO, 'tools', 'analysis_tools', 'mtl_baselines.py'))
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)
CONFIG = osp.join(REPO, 'configs', 'demt', 'balancing', 'nyud_hrnet_pcgrad.py')


def test_dry_run_writes_single_task_configs_and_prints_commands(tmp_path, capsys):
    assert tool.main([CONFIG, '--work-dir', str(tmp_path), '--dry-run', '--gpus', '8']) == 0
    out = capsys.readouterr().out
    multi = Config.fromfile(CONFIG)
    for task in ['semseg', 'depth', 'normals', 'edge']:
        path = tmp_path / task / f'nyud_hrnet_pcgrad_{task}.py'
        cfg = Config.fromfile(str(path))
        assert cfg.model.decode_head.tasks == [task]
        assert list(cfg.model.decode_head.task_channels) == [task]
        assert list(cfg.model.losses) == [task]
        assert 'loss_balancer' not in cfg.model
        assert cfg.model.backbone == multi.model.backbone  # same backbone
        assert cfg.optim_wrapper == multi.optim_wrapper and cfg.train_cfg == multi.train_cfg
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            assert cfg[loader].dataset.tasks == [task]
        for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
            assert evaluator.tasks == [task]
            assert set(evaluator.get('num_classes') or {}) <= {task}
        assert f'tools/dist_train.sh {path} 8 --work-dir {tmp_path / task}' in out
        assert f'tools/dist_test.sh {path} $(cat {tmp_path / task / "last_checkpoint"}) 8' in out
    assert '--collect' in out


def test_collect_writes_the_baselines_and_a_delta_m_config(tmp_path, capsys):
    results = dict(semseg={'semseg/mIoU': 40.0, 'semseg/mAcc': 50.0},
                   depth={'depth/rmse': 0.6, 'depth/abs_rel': 0.2},
                   normals={'normals/mean': 20.0}, edge={'edge/odsF': 75.0})
    for task, metrics in results.items():
        run = tmp_path / task / 'test' / '20260101_000000'
        run.mkdir(parents=True)
        (run / '20260101_000000.json').write_text(json.dumps(metrics) + '\n')
    assert tool.main([CONFIG, '--work-dir', str(tmp_path), '--collect']) == 0
    baselines = json.loads((tmp_path / 'single_task_baselines.json').read_text())
    assert baselines == dict(semseg={'mIoU': 40.0}, depth={'rmse': 0.6},
                             normals={'mean': 20.0}, edge={'odsF': 75.0})
    cfg = Config.fromfile(str(tmp_path / 'nyud_hrnet_pcgrad_delta_m.py'))
    assert cfg.model.loss_balancer.type == 'PCGrad'  # inherits the multi-task config
    assert cfg.test_evaluator.single_task_baselines == baselines
    metric = METRICS.build(cfg.test_evaluator.to_dict())
    assert metric.baselines['depth'] == {'rmse': (0.6, False)}
    # --metrics all keeps every reported metric of known direction
    assert tool.main([CONFIG, '--work-dir', str(tmp_path), '--collect', '--metrics', 'all']) == 0
    baselines = json.loads((tmp_path / 'single_task_baselines.json').read_text())
    assert baselines['depth'] == {'rmse': 0.6, 'abs_rel': 0.2}


def test_errors(tmp_path, capsys):
    assert tool.main([CONFIG, '--work-dir', str(tmp_path), '--collect']) == 1
    assert 'no test results' in capsys.readouterr().err
    not_multitask = osp.join(REPO, 'configs', 'dat')
    cfgs = [osp.join(not_multitask, f) for f in sorted(__import__('os').listdir(not_multitask))
            if f.endswith('.py')]
    if cfgs:
        assert tool.main([cfgs[0], '--work-dir', str(tmp_path), '--dry-run']) == 2
        assert 'not a multi-task model' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main([])
