"""kMaX-DeepLab end to end: tools/train.py then tools/test.py (PQ, dump, pictures) on a tiny
COCO-panoptic fixture, with the real config shrunk through --cfg-options."""
import glob
import os.path as osp
import pickle

import pytest

from tests.helpers.run_tool import run_tool
from tests.test_panoptic_datasets import write_coco_panoptic_fixture

pytestmark = pytest.mark.slow
CONFIG = 'configs/kmax/kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py'


def _options(data_root):
    loader = dict(batch_size=1, num_workers=0, persistent_workers=False)
    opts = {
        'model.backbone.depth': 18,
        'model.backbone.init_cfg': None,
        'model.decode_head.in_channels': (64, 128, 256, 512),
        'model.decode_head.pixel_decoder.dec_channels': (32, 16, 16, 8),
        'model.decode_head.pixel_decoder.dec_layers': (1, 1, 1, 1),
        'model.decode_head.transformer_decoder.in_channels': (128, 64, 64, 32),
        'model.decode_head.transformer_decoder.dec_layers': (1, 1, 1),
        'model.decode_head.transformer_decoder.num_queries': 16,
        'model.decode_head.criterion.pixel_insdis_sample_k': 64,
        'model.decode_head.criterion.aux_semantic_sample_k': 64,
        'model.data_preprocessor.size': (64, 64),
        'model.data_preprocessor.test_cfg.size': (64, 64),
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.dataset.data_root': data_root,
        'train_dataloader.dataset.pipeline.0.crop_size': (64, 64),
        'train_dataloader.dataset.pipeline.0.main_pipeline.0.crop_size': (64, 64),
        'train_dataloader.dataset.pipeline.0.paste_pipeline.0.crop_size': (64, 64),
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
    }
    for split in ('val_dataloader', 'test_dataloader'):
        for k, v in loader.items():
            opts[f'{split}.{k}'] = v
        opts[f'{split}.dataset.data_root'] = data_root
        opts[f'{split}.dataset.pipeline.1.scale'] = (64, 64)
    return [f'{k}={v!r}'.replace(' ', '') if not isinstance(v, str) else f'{k}={v}'
            for k, v in opts.items()]


def test_train_then_test_reports_pq(tmp_path):
    data = str(tmp_path / 'coco')
    write_coco_panoptic_fixture(data, split='train2017', num_images=3, size=(48, 64))
    write_coco_panoptic_fixture(data, split='val2017', num_images=2, size=(40, 56))
    opts = _options(data)
    work = str(tmp_path / 'work')
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', work, '--cfg-options', *opts)
    log = proc.stdout + proc.stderr
    for key in ('loss_cls', 'loss_dice', 'loss_insdis', 'loss_aux_semantic', 'd2.loss_mask'):
        assert key in log, key
    assert 'PQ' in log
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)

    out = str(tmp_path / 'preds.pkl')
    show_dir = str(tmp_path / 'show')
    proc = run_tool('tools/test.py', CONFIG, ckpt, '--work-dir', str(tmp_path / 'test_work'),
                    '--out', out, '--show-dir', show_dir, '--cfg-options', *opts)
    log = proc.stdout + proc.stderr
    assert 'PQ_th' in log and 'PQ_st' in log
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 2
    # predictions come back at the original image size
    assert tuple(preds[0]['pred_panoptic_seg']['sem_seg'].shape) == (1, 40, 56)
    assert tuple(preds[0]['gt_panoptic_seg']['sem_seg'].shape) == (1, 40, 56)
    pictures = glob.glob(osp.join(show_dir, '**', '*.png'), recursive=True)
    assert len(pictures) == 2, pictures
