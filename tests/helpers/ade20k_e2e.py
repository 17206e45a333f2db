"""Shared steps of the ADE20K end-to-end tests (tests/test_ade20k_e2e.py, test_datpp_e2e.py):
the ``--cfg-options`` that shrink a real config to the fixture tree, and the train and test
runs with the checks every config shares.
"""
from __future__ import annotations

import re

import pytest

from tests.helpers.run_tool import run_tool

# Learning rates of training iterations 0 and 1 as the official recipes give them: UperNet
# 6e-5 * poly(t) * warm-up(t), Semantic FPN 2e-4 * poly(t) (tests/test_ade20k_schedules.py).
UPERNET_LRS = (6e-5 * 1e-6, 6e-5 * (1 - 1 / 160000) * (1e-6 + (1 - 1e-6) / 1500))
FPN_LRS = (2e-4, 2e-4 * (1 - 1 / 40000)**0.9)
METRICS = re.compile(r'Iter\((val|test)\) \[2/2\]\s+aAcc: ([\d.]+)\s+mIoU: ([\d.]+)')


def data_options(data_root: str, loaders: list[str]) -> list[str]:
    """Fixture data, no workers and small test sizes for the given dataloaders."""
    opts = []
    for loader in loaders:
        opts += [f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False',
                 # test Resize (2048, 512) -> (128, 64): a 96x128 image becomes 64x85
                 f'{loader}.dataset.pipeline.1.scale=(128,64)']
    return opts


def model_options(name: str) -> list[str]:
    """No pretrained backbone, 64x64 inputs and narrow heads; ``name`` starts with the head."""
    opts = ['model.backbone.init_cfg=None', 'model.data_preprocessor.size=(64,64)']
    if name.startswith('upernet'):
        # The UperNet widths (512, aux 256) only cost time here; the backbones stay as is.
        opts += ['model.decode_head.channels=32', 'model.auxiliary_head.channels=16']
    else:
        opts += ['model.neck.out_channels=32', 'model.decode_head.in_channels=[32,32,32,32]',
                 'model.decode_head.channels=16']
    return opts


def train_options(data_root: str) -> list[str]:
    """Two training iterations of batch 2 on the fixture, then one validation."""
    return [
        'train_dataloader.batch_size=2', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        # RandomResize (2048, 512) x [0.5, 2] -> (128, 64) x [0.5, 2]; RandomCrop 512 -> 64
        'train_dataloader.dataset.pipeline.2.scale=(128,64)',
        'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        'randomness.seed=0',
    ] + data_options(data_root, ['val_dataloader'])


def metrics(log: str, mode: str) -> tuple[float, float]:
    """``(aAcc, mIoU)`` of the one ``val`` or ``test`` evaluation in ``log``."""
    found = [(float(a), float(m)) for kind, a, m in METRICS.findall(log) if kind == mode]
    assert len(found) == 1, log[-3000:]
    return found[0]


def train(config: str, name: str, data_root: str, work_dir: str,
          lrs: tuple[float, float]) -> tuple[str, list[float], tuple[float, float]]:
    """Train ``config`` for two iterations and validate; check the learning rates.

    Returns:
        tuple: The log, the losses of the two iterations and the validation
        ``(aAcc, mIoU)`` (each within [0, 100]).
    """
    proc = run_tool('tools/train.py', config, '--work-dir', work_dir, '--cfg-options',
                    *train_options(data_root), *model_options(name))
    log = proc.stdout + proc.stderr
    found = [float(lr) for lr in re.findall(r'Iter\(train\) \[[12]/2\].*? lr: ([\d.e+-]+)', log)]
    assert found == pytest.approx(lrs, rel=1e-4)
    losses = [float(v) for v in re.findall(r'Iter\(train\) \[[12]/2\].* loss: ([\d.]+)', log)]
    assert len(losses) == 2
    val_acc, val_miou = metrics(log, 'val')
    assert 0 <= val_miou <= 100 and 0 <= val_acc <= 100
    return log, losses, (val_acc, val_miou)


def evaluate_checkpoint(config: str, name: str, ckpt_path: str, data_root: str,
                    work_dir: str) -> tuple[float, float]:
    """Run tools/test.py on ``ckpt_path``; check that every key and shape fits.

    Returns:
        tuple[float, float]: The test ``(aAcc, mIoU)``.
    """
    proc = run_tool('tools/test.py', config, ckpt_path, '--work-dir', work_dir,
                    '--cfg-options', *data_options(data_root, ['test_dataloader']),
                    *model_options(name))
    log = proc.stdout + proc.stderr
    assert f'Load checkpoint from {ckpt_path}' in log
    assert 'do not match exactly' not in log  # every key and shape of the checkpoint fits
    return metrics(log, 'test')

