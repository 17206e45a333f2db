"""End-to-end runs of the MPViT and DAT ADE20K configs through tools/train.py and tools/test.py
on a fixture tree in the ADE20K release layout.

The real configs run unchanged except for what ``--cfg-options`` shrinks: data root, crop and
test sizes, batch size, iterations, the head widths, and no pretrained backbone weights.
"""
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch

from tests.helpers.ade20k_fixture import write_ade20k_fixture
from tests.helpers.run_tool import run_tool

pytestmark = pytest.mark.slow

CONFIGS = {
    'upernet_mpvit-s': 'configs/mpvit/upernet_mpvit-s_8xb2-160k_ade20k-512x512.py',
    'upernet_dat-t': 'configs/dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py',
    'fpn_dat-t': 'configs/dat/fpn_dat-t_8xb4-40k_ade20k-512x512.py',
}
# Learning rates of training iterations 0 and 1 as the official recipes give them: UperNet
# 6e-5 * poly(t) * warm-up(t), Semantic FPN 2e-4 * poly(t) (tests/test_ade20k_schedules.py).
UPERNET_LRS = (6e-5 * 1e-6, 6e-5 * (1 - 1 / 160000) * (1e-6 + (1 - 1e-6) / 1500))
LRS = {'upernet_mpvit-s': UPERNET_LRS, 'upernet_dat-t': UPERNET_LRS,
       'fpn_dat-t': (2e-4, 2e-4 * (1 - 1 / 40000)**0.9)}
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
        # The UperNet widths (512, aux 256) only cost time here; the backbones stay as is.
        opts += ['model.decode_head.channels=32', 'model.auxiliary_head.channels=16']
    else:
        opts += ['model.neck.out_channels=32', 'model.decode_head.in_channels=[32,32,32,32]',
                 'model.decode_head.channels=16']
    return opts


def _train_options(data_root):
    return [
        'train_dataloader.batch_size=2', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        # RandomResize (2048, 512) x [0.5, 2] -> (128, 64) x [0.5, 2]; RandomCrop 512 -> 64
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


def test_fixture_reads_as_ade20k(data_root):
    from mmseg.datasets import ADE20KDataset
    from mmseg.datasets.transforms import LoadAnnotations

    dataset = ADE20KDataset(
        data_root=data_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=[LoadAnnotations()])  # reduce_zero_label comes from the dataset
    assert len(dataset) == 2 and len(dataset.metainfo['classes']) == 150
    assert dataset.metainfo['classes'][-1] == 'flag'
    assert osp.basename(dataset[0]['img_path']) == 'ADE_val_00000001.jpg'
    raw = LoadAnnotations()(dict(seg_map_path=dataset[0]['seg_map_path'], seg_fields=[],
                                 reduce_zero_label=False))['gt_seg_map']
    labels = dataset[0]['gt_seg_map']
    # reduce_zero_label: 0 ("other") -> 255 (ignored), k -> k - 1
    assert (labels[raw == 0] == 255).all() and (raw == 0).any()
    assert np.array_equal(labels[raw > 0], raw[raw > 0] - 1)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_train_then_test(name, data_root, tmp_path):
    work = str(tmp_path / 'work')
    proc = run_tool('tools/train.py', CONFIGS[name], '--work-dir', work, '--cfg-options',
                    *_train_options(data_root), *_model_options(name))
    log = proc.stdout + proc.stderr
    # No process group on CPU: the Runner turns the configs' SyncBN layers into BatchNorm.
    assert 'SyncBatchNorm (SyncBN) layers in the model will be automatically reverted' in log
    lrs = [float(lr) for lr in re.findall(r'Iter\(train\) \[[12]/2\].*? lr: ([\d.e+-]+)', log)]
    assert lrs == pytest.approx(LRS[name], rel=1e-4)
    assert len(re.findall(r'Iter\(train\) \[[12]/2\].* loss: [\d.]+', log)) == 2
    val_acc, val_miou = _metrics(log, 'val')
    assert 0 <= val_miou <= 100 and 0 <= val_acc <= 100
    assert '| flag |' in re.sub(r' +', ' ', log)  # the 150-class ADE20K table

    ckpt_path = osp.join(work, 'iter_2.pth')
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    state = ckpt['state_dict']
    assert any(k.startswith('backbone.stages.') or k.startswith('backbone.mhca_stages.')
               for k in state)
    # Every BatchNorm (the configs' SyncBN, reverted), the MPViT backbone's included
    # (norm_eval=False), updated its statistics in both training iterations.
    counts = {k: int(v) for k, v in state.items() if k.endswith('num_batches_tracked')}
    assert any(k.startswith('decode_head.') for k in counts)
    assert name != 'upernet_mpvit-s' or any(k.startswith('backbone.') for k in counts)
    assert set(counts.values()) == {2}
    del ckpt, state

    proc = run_tool('tools/test.py', CONFIGS[name], ckpt_path, '--work-dir',
                    str(tmp_path / 'test_work'), '--cfg-options',
                    *_data_options(data_root, ['test_dataloader']), *_model_options(name))
    log = proc.stdout + proc.stderr
    assert f'Load checkpoint from {ckpt_path}' in log
    assert 'do not match exactly' not in log  # every key and shape of the checkpoint fits
    test_acc, test_miou = _metrics(log, 'test')
    # Same weights, images and pipeline as the validation after iteration 2.
    assert (test_acc, test_miou) == (val_acc, val_miou)
    os.remove(ckpt_path)  # AdamW checkpoints of these backbones are a few hundred MB
