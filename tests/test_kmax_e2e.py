"""kMaX-DeepLab end to end: tools/train.py then tools/test.py (PQ, dump, pictures) for every
config family -- COCO with ResNet and ConvNeXt backbones, Cityscapes and ADE20K -- on tiny
fixtures in the real annotation formats, with the real configs shrunk through --cfg-options."""
import glob
import os.path as osp
import pickle
import re

import pytest

from tests.helpers.run_tool import run_tool
from tests.test_panoptic_datasets import (
    write_ade20k_panoptic_fixture,
    write_cityscapes_panoptic_fixture,
    write_coco_panoptic_fixture,
)

pytestmark = pytest.mark.slow

# A ResNet-18 (random init) stands in for the ResNet-50 of the real configs.
R18_BACKBONE = {'model.backbone.depth': 18, 'model.backbone.init_cfg': None}
R18_CHANNELS = (64, 128, 256, 512)
# Cityscapes: the ResNet stem output (64 channels) is a fifth pixel-decoder input
R18_STEM_CHANNELS = (64, 64, 128, 256, 512)
# The smallest timm ConvNeXt: the same TimmConvNeXt class (DeepLab2 padding, timm block
# names for the optimiser rules) as ConvNeXt-T/S/B/L, and no pretrained download.
ATTO_BACKBONE = {'model.backbone.arch': 'convnext_atto', 'model.backbone.init_cfg': None}
ATTO_CHANNELS = (40, 80, 160, 320)


def _write_coco(root):
    write_coco_panoptic_fixture(root, split='train2017', num_images=3, size=(48, 64))
    write_coco_panoptic_fixture(root, split='val2017', num_images=2, size=(40, 56))
    return 2, (40, 56)


def _write_cityscapes(root):
    write_cityscapes_panoptic_fixture(root, split='train', size=(32, 64))
    write_cityscapes_panoptic_fixture(root, split='val', size=(32, 64))
    return 2, (32, 64)


def _write_ade20k(root):
    write_ade20k_panoptic_fixture(root, split='train', size=(40, 40))
    write_ade20k_panoptic_fixture(root, split='val', size=(40, 40))
    return 1, (40, 40)


# name: (config, fixture writer, backbone options, backbone channels, padded input (H, W))
FAMILIES = {
    'coco_r50': ('configs/kmax/kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py', _write_coco,
                 R18_BACKBONE, R18_CHANNELS, (64, 64)),
    'coco_convnext': ('configs/kmax/kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py',
                      _write_coco, ATTO_BACKBONE, ATTO_CHANNELS, (64, 64)),
    # odd sizes as the real 1025x2049: align_corners=True paths of the decoder and resizing
    'cityscapes_r50': ('configs/kmax/kmax_r50_8xb4-60k_cityscapes-panoptic-1025x2049.py',
                       _write_cityscapes, R18_BACKBONE, R18_STEM_CHANNELS, (33, 65)),
    'ade20k_r50': ('configs/kmax/kmax_r50_8xb8-100k_ade20k-panoptic-1281x1281.py',
                   _write_ade20k, R18_BACKBONE, R18_CHANNELS, (64, 64)),
}


def shrink_options(data_root, backbone, channels, size):
    """``--cfg-options`` turning a full kMaX config into a 2-iteration run on a fixture.

    Args:
        data_root: fixture root (train, val and test splits).
        backbone: backbone overrides (``model.backbone.*``).
        channels: the backbone's channels at strides 4, 8, 16 and 32 (with the stem's
            first for the five-stage Cityscapes decoder).
        size: padded input (H, W) of training and testing (the crop and the preprocessor size).
    """
    h, w = size
    dec_channels = (32, 16, 16, 8, 4)[:len(channels)]
    opts = {
        **backbone,
        'model.decode_head.in_channels': channels,
        'model.decode_head.pixel_decoder.dec_channels': dec_channels,
        'model.decode_head.pixel_decoder.dec_layers': (1, ) * len(channels),
        'model.decode_head.transformer_decoder.in_channels': (128, 64, 64,
                                                              dec_channels[-1] * 4),
        'model.decode_head.transformer_decoder.dec_layers': (1, 1, 1),
        'model.decode_head.transformer_decoder.num_queries': 16,
        'model.decode_head.criterion.pixel_insdis_sample_k': 64,
        'model.decode_head.criterion.aux_semantic_sample_k': 64,
        'model.data_preprocessor.size': size,
        'model.data_preprocessor.test_cfg.size': size,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.dataset.data_root': data_root,
        'train_dataloader.dataset.pipeline.0.crop_size': size,
        'train_dataloader.dataset.pipeline.0.main_pipeline.0.crop_size': size,
        'train_dataloader.dataset.pipeline.0.paste_pipeline.0.crop_size': size,
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
    }
    for split in ('val_dataloader', 'test_dataloader'):
        opts[f'{split}.batch_size'] = 1
        opts[f'{split}.num_workers'] = 0
        opts[f'{split}.persistent_workers'] = False
        opts[f'{split}.dataset.data_root'] = data_root
        # the Resize of the test pipeline: longer side to the padded width (mmcv's (w, h))
        opts[f'{split}.dataset.pipeline.1.scale'] = (w, h)
    return [f'{k}={v!r}'.replace(' ', '') if not isinstance(v, str) else f'{k}={v}'
            for k, v in opts.items()]


def _metric(log, name):
    """Last value of ``name: <number>`` in a log."""
    values = re.findall(rf'\b{name}: (-?[0-9.]+)', log)
    assert values, f'{name} not reported:\n{log[-3000:]}'
    return float(values[-1])


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_train_then_test_reports_pq(tmp_path, family):
    config, write_fixture, backbone, channels, size = FAMILIES[family]
    data = str(tmp_path / 'data')
    num_val, val_shape = write_fixture(data)
    opts = shrink_options(data, backbone, channels, size)
    work = str(tmp_path / 'work')
    proc = run_tool('tools/train.py', config, '--work-dir', work, '--cfg-options', *opts)
    log = proc.stdout + proc.stderr
    for key in ('loss_cls', 'loss_dice', 'loss_insdis', 'loss_aux_semantic', 'd2.loss_mask'):
        assert key in log, key
    assert 0.0 <= _metric(log, 'PQ') <= 100.0
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)

    out = str(tmp_path / 'preds.pkl')
    show_dir = str(tmp_path / 'show')
    proc = run_tool('tools/test.py', config, ckpt, '--work-dir', str(tmp_path / 'test_work'),
                    '--out', out, '--show-dir', show_dir, '--cfg-options', *opts)
    log = proc.stdout + proc.stderr
    for name in ('PQ', 'PQ_th', 'PQ_st', 'SQ', 'RQ'):
        assert 0.0 <= _metric(log, name) <= 100.0, name
    if family.startswith('cityscapes'):  # the semantic output is evaluated as well
        assert 0.0 <= _metric(log, 'mIoU') <= 100.0
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == num_val
    # predictions come back at the original image size, labels below num_classes + 1
    pred = preds[0]['pred_panoptic_seg']['sem_seg']
    assert tuple(pred.shape) == (1, *val_shape)
    assert tuple(preds[0]['gt_panoptic_seg']['sem_seg'].shape) == (1, *val_shape)
    num_classes = {'cityscapes': 19, 'ade20k': 150}.get(family.split('_')[0], 133)
    assert int((pred % 1000).max()) <= num_classes
    pictures = glob.glob(osp.join(show_dir, '**', '*.png'), recursive=True)
    assert len(pictures) == num_val, pictures
