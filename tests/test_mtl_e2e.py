"""Every configs/demt/balancing config trains end to end through tools/train.py on the
synthetic quick-start data (CPU), alone and with --amp, and under tools/dist_train.sh ... 2
(gloo) for one method per family; tools/analysis_tools/mtl_baselines.py on the same data."""
import glob
import json
import os.path as osp
import random

import pytest
import torch
from mmengine.config import Config

from tests.helpers.run_tool import run_tool
from tests.helpers.seg_fixture import REPO

pytestmark = pytest.mark.slow

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'demt', 'balancing', 'nyud_hrnet_*.py')))
NAMES = [osp.basename(p)[len('nyud_hrnet_'):-3] for p in CONFIGS]
TINY = """
data_root = {data!r}
model = dict(decode_head=dict(channels=16), loss_balancer={balancer!r})
optim_wrapper = dict(clip_grad={clip!r})
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
train_cfg = dict(max_iters=2, val_interval=1000)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""
NO_EVAL = """
val_cfg = val_dataloader = val_evaluator = None
test_cfg = test_dataloader = test_evaluator = None
"""
EVAL = """
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(edge_thresholds=2)
test_evaluator = dict(edge_thresholds=2)
"""


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('mtl_e2e')
    run_tool('tools/misc/make_synthetic_nyud.py', str(root / 'data'), '--num-train', '4',
             '--num-val', '2')
    return root


def _config(root, name, extra='', evaluate=False):
    """The quick-start config, shrunk, with the balancer (and clipping) of ``name``'s config."""
    cfg = Config.fromfile(CONFIGS[NAMES.index(name)])
    path = root / f'{name}.py'
    path.write_text(
        f"_base_ = [{osp.join(REPO, 'configs', 'demt', 'quickstart_synthetic-nyud.py')!r}]\n"
        + TINY.format(data=str(root / 'data'), balancer=cfg.model.loss_balancer.to_dict(),
                      clip=cfg.optim_wrapper.get('clip_grad'))
        + (EVAL if evaluate else NO_EVAL) + extra)
    return str(path)


def test_every_method_has_a_config():
    assert set(NAMES) == {'fixed', 'uncertainty', 'dwa', 'gradnorm', 'rlw', 'gls', 'logloss',
                          'famo', 'pcgrad', 'cagrad', 'imtlg', 'mgda', 'nashmtl', 'alignedmtl'}
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        assert cfg.model.type == 'MultiTaskEncoderDecoder' and 'loss_balancer' in cfg.model
        assert cfg.train_dataloader.dataset.data_root == 'data/NYUDv2'  # the base is nyud_hrnet


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'amp'])
@pytest.mark.parametrize('name', NAMES)
def test_train_tool(data, name, amp):
    work = str(data / f'work_{name}_{int(amp)}')
    args = ['tools/train.py', _config(data, name), '--work-dir', work] + (['--amp'] * amp)
    proc = run_tool(*args)
    log = proc.stdout + proc.stderr
    assert 'Iter(train) [2/2]' in log
    if name != 'fixed':
        assert 'w_semseg:' in log and 'w_edge:' in log
    if amp:
        assert 'bf16 autocast on CPU' in log
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
@pytest.mark.parametrize('name', ['dwa', 'pcgrad', 'mgda'])
def test_dist_train_two_ranks(data, name):
    hooks = ("custom_imports = dict(imports=['tests.helpers.hooks'], allow_failed_imports=False)"
             "\ncustom_hooks = [dict(type='DumpRankWeightsHook')]\n")
    work = str(data / f'dist_{name}')
    proc = run_tool('tools/dist_train.sh', _config(data, name, hooks), '2', '--work-dir', work,
                    env={'PORT': str(random.randint(20000, 40000))})
    assert 'gloo' in proc.stdout + proc.stderr
    ranks = [torch.load(osp.join(work, f'rank{r}_weights.pth'), weights_only=False)
             for r in range(2)]
    assert ranks[0].keys() == ranks[1].keys()
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key


def test_mtl_baselines_tiny_run(data):
    cfg = _config(data, 'fixed', evaluate=True)
    out = str(data / 'baselines')
    proc = run_tool('tools/analysis_tools/mtl_baselines.py', cfg, '--work-dir', out,
                    '--cfg-options', 'train_cfg.max_iters=1')
    baselines = json.loads(open(osp.join(out, 'single_task_baselines.json')).read())
    assert set(baselines) == {'semseg', 'depth', 'normals', 'edge'}
    assert 'mIoU' in baselines['semseg'] and 'rmse' in baselines['depth']
    assert 'single_task_baselines' in proc.stdout


def test_mtl_compare_tiny_run(data):
    baselines = data / 'baselines.json'
    baselines.write_text(json.dumps(dict(semseg=dict(mIoU=5.0), depth=dict(rmse=1.0),
                                         normals=dict(mean=40.0), edge=dict(odsF=20.0))))
    work = data / 'compare'
    proc = run_tool('tools/analysis_tools/mtl_compare.py', '--methods', 'fixed', 'imtlg',
                    '--seeds', '0', '--iters', '2', '--data-root', str(data / 'data'),
                    '--work-dir', str(work), '--baselines', str(baselines))
    rows = [line for line in proc.stdout.splitlines() if line.startswith('| ')]
    assert [r.split(' | ')[0] for r in rows[1:]] == ['| fixed', '| imtlg']
    for row in rows[1:]:
        cells = row.strip('| ').split(' | ')
        float(cells[2])  # delta_m measured
        # time/iter (s), time vs fixed, memory (MB)
        assert float(cells[4]) > 0 and float(cells[5][:-1]) > 0 and float(cells[6]) > 100
    assert (work / 'table.md').read_text().count('| imtlg |') == 1
