"""tools/analysis_tools/mtl_compare.py: generated configs and the noise-aware table."""
import importlib.util
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
    assert '+1.00 ± 0.20' in rows['fixed'] and '| 0.600 | 1000 |' in rows['fixed']
    assert '+2.00 (beyond 2 s.e.)' in rows['pcgrad']
    assert '+0.10 (within noise)' in rows['rlw']
