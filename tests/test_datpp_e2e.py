"""End-to-end runs of the DAT++ ADE20K configs through tools/train.py and tools/test.py on a
fixture tree in the ADE20K release layout (the shared steps are in tests/helpers/ade20k_e2e.py).

The configs run unchanged except for what ``--cfg-options`` shrinks: data root, crop and test
sizes, iterations, the head widths, and no pretrained backbone weights. The backbones keep
their real size, so each run also checks that the official DAT++-T/B build and train.
"""
import os
import os.path as osp

import pytest
import torch

from tests.helpers.ade20k_e2e import FPN_LRS, UPERNET_LRS, evaluate_checkpoint, train
from tests.helpers.ade20k_fixture import write_ade20k_fixture

pytestmark = pytest.mark.slow

# One run per head and per precision path; the -S configs and FPN -B differ from these only
# in backbone size and recipe values, which tests/test_datpp.py checks field by field (and the
# backbone sizes against the official parameter counts), so they are not trained again here.
CONFIGS = [
    'upernet_datpp-t_8xb2-160k_ade20k-512x512.py',  # AMP (bf16 on CPU) + gradient checkpointing
    'upernet_datpp-b_8xb2-160k_ade20k-512x512.py',  # fp32
    'fpn_datpp-t_8xb4-40k_ade20k-512x512.py',
]
LRS = {'upernet': UPERNET_LRS, 'fpn': FPN_LRS}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return write_ade20k_fixture(str(tmp_path_factory.mktemp('ade20k') / 'data'))


@pytest.mark.parametrize('name', CONFIGS)
def test_train_then_test(name, data_root, tmp_path):
    config = osp.join('configs', 'dat', name)
    work = str(tmp_path / 'work')
    _, losses, val_metrics = train(config, name, data_root, work, LRS[name.split('_')[0]])
    assert all(0 < v < 100 for v in losses)

    ckpt_path = osp.join(work, 'iter_2.pth')
    state = torch.load(ckpt_path, map_location='cpu', weights_only=False)['state_dict']
    backbone = {k: v for k, v in state.items() if k.startswith('backbone.')}
    arch = {'t': 'tiny', 's': 'small', 'b': 'base'}[name.split('_')[1][-1]]
    from tests.test_datpp import official_facts
    assert sum(v.numel() for v in backbone.values()) == official_facts(arch)['num_params']
    assert any('.attn.rpb' in k for k in backbone) and any('.attn.rpe_table' in k for k in backbone)
    del state, backbone

    test_metrics = evaluate_checkpoint(config, name, ckpt_path, data_root,
                                       str(tmp_path / 'test_work'))
    assert test_metrics == val_metrics
    os.remove(ckpt_path)
