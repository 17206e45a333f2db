"""End-to-end runs of the DAT++ ADE20K configs through tools/train.py and tools/test.py on a
fixture tree in the ADE20K release layout (see tests/test_ade20k_e2e.py for the pattern).

The configs run unchanged except for what ``--cfg-options`` shrinks: data root, crop and test
sizes, iterations, the head widths, and no pretrained backbone weights. The backbones keep
their real size, so each run also checks that the official DAT++-T/S/B build and train.
"""
import os
import os.path as osp
import re

import pytest
import torch

from tests.helpers.ade20k_fixture import write_ade20k_fixture
from tests.helpers.run_tool import run_tool

pytestmark = pytest.mark.slow

CONFIGS = [
    'upernet_datpp-t_8xb2-160k_ade20k-512x512.py',  # AMP (bf16 on CPU) + gradient checkpointing
    'upernet_datpp-s_8xb2-160k_ade20k-512x512.py',
    'upernet_datpp-b_8xb2-160k_ade20k-512x512.py',  # fp32
    'fpn_datpp-t_8xb4-40k_ade20k-512x512.py',
    'fpn_datpp-s_8xb4-40k_ade20k-512x512.py',
    'fpn_datpp-b_8xb4-40k_ade20k-512x512.py',
]
# Learning rates of iterations 0 and 1: UperNet 6e-5 * poly(t) * warm-up(t), FPN 2e-4 * poly(t).
LRS = {
    'upernet': (6e-5 * 1e-6, 6e-5 * (1 - 1 / 160000) * (1e-6 + (1 - 1e-6) / 1500)),
    'fpn': (2e-4, 2e-4 * (1 - 1 / 40000)**0.9),
}
METRICS = re.compile(r'Iter\((val|test)\) \[2/2\]\s+aAcc: ([\d.]+)\s+mIoU: ([\d.]+)')


def _data_options(data_root, loaders):
    opts = []
    for loader in loaders:
        opts += [f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False',
                 # test Resize (2048, 512) -> (128, 64): a 96x128 image becomes 64x85
                 f'{loader}.dataset.pipeline.1.scale=(128,64)']
    return opts


def _model_options(name):
    opts = ['model.backbone.init_cfg=None', 'model.data_preprocessor.size=(64,64)']
    if name.startswith('upernet'):
        opts += ['model.decode_head.channels=32', 'model.auxiliary_head.channels=16']
    else:
        opts += ['model.neck.out_channels=32', 'model.decode_head.in_channels=[32,32,32,32]',
                 'model.decode_head.channels=16']
    return opts


def _train_options(data_root):
    return [
        'train_dataloader.batch_size=2', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.2.scale=(128,64)',
        'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        'randomness.seed=0',
    ] + _data_options(data_root, ['val_dataloader'])


def _metrics(log, mode):
    found = [(float(a), float(m)) for kind, a, m in METRICS.findall(log) if kind == mode]
    assert len(found) == 1, log[-3000:]
    return found[0]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return write_ade20k_fixture(str(tmp_path_factory.mktemp('ade20k') / 'data'))


@pytest.mark.parametrize('name', CONFIGS)
def test_train_then_test(name, data_root, tmp_path):
    config = osp.join('configs', 'dat', name)
    work = str(tmp_path / 'work')
    proc = run_tool('tools/train.py', config, '--work-dir', work, '--cfg-options',
                    *_train_options(data_root), *_model_options(name))
    log = proc.stdout + proc.stderr
    lrs = [float(lr) for lr in re.findall(r'Iter\(train\) \[[12]/2\].*? lr: ([\d.e+-]+)', log)]
    assert lrs == pytest.approx(LRS[name.split('_')[0]], rel=1e-4)
    losses = [float(v) for v in re.findall(r'Iter\(train\) \[[12]/2\].* loss: ([\d.]+)', log)]
    assert len(losses) == 2 and all(0 < v < 100 for v in losses)
    val_acc, val_miou = _metrics(log, 'val')
    assert 0 <= val_miou <= 100 and 0 <= val_acc <= 100

    ckpt_path = osp.join(work, 'iter_2.pth')
    state = torch.load(ckpt_path, map_location='cpu', weights_only=False)['state_dict']
    backbone = {k: v for k, v in state.items() if k.startswith('backbone.')}
    arch = {'t': 'tiny', 's': 'small', 'b': 'base'}[name.split('_')[1][-1]]
    from tests.test_datpp import official_facts
    assert sum(v.numel() for v in backbone.values()) == official_facts(arch)['num_params']
    assert any('.attn.rpb' in k for k in backbone) and any('.attn.rpe_table' in k for k in backbone)
    del state, backbone

    proc = run_tool('tools/test.py', config, ckpt_path, '--work-dir', str(tmp_path / 'test_work'),
                    '--cfg-options', *_data_options(data_root, ['test_dataloader']),
                    *_model_options(name))
    log = proc.stdout + proc.stderr
    assert f'Load checkpoint from {ckpt_path}' in log
    assert 'do not match exactly' not in log
    assert _metrics(log, 'test') == (val_acc, val_miou)
    os.remove(ckpt_path)
