"""tools/analysis_tools/mtl_compare.py: generated configs, resuming and the noise-aware
table."""
import importlib.util
import json
import os.path as osp

from mmengine.config import Config

from tests.helpers.seg_fixture import REPO

_spec = importlib.util.spec_from_file_location(
    'mtl_compare', osp.join(REPO, 'tools', 'analysis_tools', 'mtl_compare.py'))
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def test_dry_run_configs(tmp_path, capsys):
    assert tool.main(['--methods', 'fixed', 'nashmtl', '--seeds', '3', '--iters', '7',
                      '--work-dir', str(tmp_path), '--dry-run']) == 0
    assert capsys.readouterr().out.count('tools/train.py') == 2
    cfg = Config.fromfile(str(tmp_path / 'nashmtl_seed3' / 'nashmtl_seed3.py'))
    assert cfg.model.loss_balancer.type == 'NashMTL'
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=1.0)
    assert cfg.randomness.seed == 3 and cfg.train_cfg.max_iters == 7
    assert cfg.param_scheduler[0].end == 7
    assert cfg.model.decode_head.channels == 128  # the quick-start model
    assert tool.main(['--methods', 'nope', '--dry-run', '--work-dir', str(tmp_path)]) == 2


def test_table_flags_noise():
    results = dict(
        fixed=[dict(delta_m=1.0, time=0.5, memory=900), dict(delta_m=1.2, time=0.7, memory=1000),
               dict(delta_m=0.8, time=0.6, memory=1100)],
        pcgrad=[dict(delta_m=3.0, time=2.0, memory=1500), dict(delta_m=3.1, time=2.0,
                                                               memory=1500),
                dict(delta_m=2.9, time=2.0, memory=1500)],
        rlw=[dict(delta_m=1.1, time=0.6, memory=1000), dict(delta_m=0.9, time=0.6, memory=1000),
             dict(delta_m=1.3, time=0.6, memory=1000)])
    rows = {line.split(' | ')[0][2:]: line for line in tool.table(results).splitlines()[2:]}
    assert '+1.00 ± 0.20' in rows['fixed'] and '| 0.600 | 1.00x | 1000 |' in rows['fixed']
    assert '+2.00 (beyond 2 s.e.)' in rows['pcgrad'] and '| 2.000 | 3.33x | 1500 |' in rows[
        'pcgrad']
    assert '+0.10 (within noise)' in rows['rlw']


def test_crop_size_and_cfg_options(tmp_path, capsys):
    assert tool.main(['--methods', 'mgda', '--seeds', '1', '--iters', '5', '--crop-size', '48',
                      '64', '--cfg-options', 'train_dataloader.batch_size=2',
                      '--work-dir', str(tmp_path), '--dry-run']) == 0
    cfg = Config.fromfile(str(tmp_path / 'mgda_seed1' / 'mgda_seed1.py'))
    assert tuple(cfg.model.data_preprocessor.size) == (48, 64)
    steps = {s['type']: s for s in cfg.train_dataloader.dataset.pipeline}
    assert tuple(steps['MultiTaskRandomCrop']['crop_size']) == (48, 64)
    assert tuple(steps['MultiTaskPad']['size']) == (48, 64)
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.model.loss_balancer.type == 'MGDA' and cfg.train_cfg.max_iters == 5
    assert cfg.model.decode_head.channels == 128
    assert tool.main(['--crop-size', '16', '16', '--dry-run',
                      '--work-dir', str(tmp_path)]) == 2
    assert '--crop-size' in capsys.readouterr().err


def test_resume_trains_only_the_missing_runs(tmp_path, monkeypatch):
    (tmp_path / 'baselines').mkdir()
    (tmp_path / 'baselines' / 'single_task_baselines.json').write_text(
        json.dumps(dict(semseg=dict(mIoU=10.0))))
    (tmp_path / 'fixed_seed0').mkdir()
    (tmp_path / 'fixed_seed0' / 'result.json').write_text(
        json.dumps(dict(delta_m=-1.5, time=0.25, memory=900.0)))
    trained = []

    def fake_train(config, work_dir, env):
        trained.append(osp.basename(work_dir))
        return 1200.0

    monkeypatch.setattr(tool, '_train', fake_train)
    monkeypatch.setattr(tool, 'read_run',
                        lambda work_dir: {'multitask/delta_m': 2.5, 'time': 0.5})
    assert tool.main(['--methods', 'fixed', 'pcgrad', '--seeds', '0', '--iters', '3',
                      '--work-dir', str(tmp_path), '--resume']) == 0
    assert trained == ['pcgrad_seed0']  # neither the baselines nor fixed retrained
    cfg = Config.fromfile(str(tmp_path / 'pcgrad_seed0' / 'pcgrad_seed0.py'))
    assert cfg.val_evaluator.single_task_baselines == dict(semseg=dict(mIoU=10.0))
    assert json.loads((tmp_path / 'pcgrad_seed0' / 'result.json').read_text()) == dict(
        delta_m=2.5, time=0.5, memory=1200.0)
    text = (tmp_path / 'table.md').read_text()
    assert '| fixed | 1 | -1.50 | - | 0.250 | 1.00x | 900 |' in text
    assert '| pcgrad | 1 | +2.50 | - | 0.500 | 2.00x | 1200 |' in text
