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

from tests.helpers.ade20k_e2e import FPN_LRS, UPERNET_LRS, evaluate_checkpoint, train
from tests.helpers.ade20k_fixture import write_ade20k_fixture

pytestmark = pytest.mark.slow

CONFIGS = {
    'upernet_mpvit-s': 'configs/mpvit/upernet_mpvit-s_8xb2-160k_ade20k-512x512.py',
    'upernet_dat-t': 'configs/dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py',
    'fpn_dat-t': 'configs/dat/fpn_dat-t_8xb4-40k_ade20k-512x512.py',
}
LRS = {'upernet_mpvit-s': UPERNET_LRS, 'upernet_dat-t': UPERNET_LRS, 'fpn_dat-t': FPN_LRS}


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
    log, _, val_metrics = train(CONFIGS[name], name, data_root, work, LRS[name])
    # No process group on CPU: the Runner turns the configs' SyncBN layers into BatchNorm.
    assert 'SyncBatchNorm (SyncBN) layers in the model will be automatically reverted' in log
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

    test_metrics = evaluate_checkpoint(CONFIGS[name], name, ckpt_path, data_root,
                                       str(tmp_path / 'test_work'))
    # Same weights, images and pipeline as the validation after iteration 2.
    assert test_metrics == val_metrics
    os.remove(ckpt_path)  # AdamW checkpoints of these backbones are a few hundred MB
