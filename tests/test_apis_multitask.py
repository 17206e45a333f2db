"""Tests of mmdense.apis (init_model, inference_model) and tools/misc/demo_multitask.py.

A tiny MultiTaskEncoderDecoder (MiT backbone + DeMTHead) runs on a synthetic NYUD-v2 dataset
written by tools/misc/make_synthetic_nyud.py.
"""
import copy
import importlib.util
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from mmdense.apis import build_inference_pipeline, inference_model, init_model
from mmdense.datasets import NYUDv2MultiTaskDataset
from mmdense.structures import MultiTaskDataSample

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
H, W = 24, 32
TASKS = ['semseg', 'depth', 'normals', 'edge']


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'tools', 'misc',
                                                                 f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(data_root):
    # The test pipeline resizes: predictions must still come back at the image size.
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadMultiTaskAnnotations'),
        dict(type='MultiTaskResize', scale=(64, 48), keep_ratio=False),
        dict(type='PackMultiTaskInputs'),
    ]
    model = dict(
        type='MultiTaskEncoderDecoder',
        data_preprocessor=dict(type='MultiTaskDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, size_divisor=32),
        backbone=dict(type='MixVisionTransformer', in_channels=3, embed_dims=8, num_stages=4,
                      num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8],
                      patch_sizes=[7, 3, 3, 3], sr_ratios=[8, 4, 2, 1], out_indices=(0, 1, 2, 3),
                      mlp_ratio=2,
                      init_cfg=dict(type='Pretrained', checkpoint='no_such_file.pth')),
        decode_head=dict(type='DeMTHead', in_channels=[8, 16, 32, 64], tasks=TASKS,
                         task_channels=dict(semseg=40, depth=1, normals=3, edge=1),
                         channels=16, num_heads=2),
        losses=dict(semseg=dict(type='DenseCrossEntropyLoss'), depth=dict(type='MaskedL1Loss'),
                    normals=dict(type='MaskedL1Loss', normalize=True),
                    edge=dict(type='BalancedBinaryCrossEntropyLoss', pos_weight=0.95)))
    return Config(dict(
        default_scope='mmdense',
        model=model,
        test_dataloader=dict(
            batch_size=1,
            dataset=dict(type='NYUDv2MultiTaskDataset', data_root=str(data_root), split='val',
                         pipeline=test_pipeline))))


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('apis')
    data_root = tmp / 'synthetic_nyud'
    _load_tool('make_synthetic_nyud').write_dataset(str(data_root), 1, 2, (H, W), seed=4)
    cfg = _config(data_root)
    cfg_path = str(tmp / 'tiny_demt.py')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    model = init_model(cfg)
    # Non-trivial weights so that predictions differ between images and checkpoints.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ckpt = str(tmp / 'tiny_demt.pth')
    meta = dict(dataset_meta=dict(model.dataset_meta, classes=tuple(f'c{i}' for i in range(40))))
    save_checkpoint(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    images = [str(data_root / 'images' / f'{n:04d}.png') for n in (1, 2)]
    return dict(tmp=tmp, cfg=cfg, cfg_path=cfg_path, model=model, ckpt=ckpt, images=images,
                data_root=data_root)


def _preds(sample):
    return {t: sample.get(f'pred_{t}').data for t in TASKS}


def _assert_same(a, b):
    for t in TASKS:
        torch.testing.assert_close(a[t], b[t], rtol=0, atol=1e-6)


def test_init_model(setup):
    cfg = setup['cfg']
    cfg_before = copy.deepcopy(cfg)
    model = init_model(cfg, device='cpu')
    assert not model.training
    assert model.cfg.model.backbone.init_cfg is None  # pretrained weights are not looked for
    assert cfg.model.backbone.init_cfg == cfg_before.model.backbone.init_cfg  # input untouched
    # No checkpoint: class names and tasks come from the config's test dataset class.
    assert model.dataset_meta['classes'] == NYUDv2MultiTaskDataset.METAINFO['classes']
    assert model.dataset_meta['tasks'] == TASKS

    with pytest.warns(UserWarning, match='dataset_meta'):
        bare = str(setup['tmp'] / 'bare.pth')
        save_checkpoint(dict(state_dict=setup['model'].state_dict()), bare)
        init_model(setup['cfg_path'], bare)
    with pytest.raises(TypeError, match='config'):
        init_model(42)


def test_init_model_loads_checkpoint(setup):
    model = init_model(setup['cfg_path'], setup['ckpt'],
                       cfg_options={'model.decode_head.channels': 16})
    assert model.dataset_meta['classes'][:2] == ('c0', 'c1')
    reference = setup['model'].state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, reference[key], rtol=0, atol=0)


def test_inference_path_array_and_batch(setup):
    model = setup['model']
    path1, path2 = setup['images']
    r1 = inference_model(model, path1)
    assert isinstance(r1, MultiTaskDataSample)
    assert r1.metainfo['tasks'] == TASKS and r1.metainfo['img_path'] == path1
    # Annotation loading is dropped: predictions only, at the image size despite the resize.
    assert not any(k.startswith('gt_') for k in r1.keys())
    shapes = {t: tuple(v.shape) for t, v in _preds(r1).items()}
    assert shapes == dict(semseg=(1, H, W), depth=(1, H, W), normals=(3, H, W), edge=(1, H, W))
    p = _preds(r1)
    assert p['semseg'].dtype == torch.int64 and 0 <= p['semseg'].min() and p['semseg'].max() < 40
    assert (p['depth'] >= 0).all() and 0 <= p['edge'].min() and p['edge'].max() <= 1
    torch.testing.assert_close(p['normals'].norm(dim=0), torch.ones(H, W))

    # An array as read by mmcv.imread (BGR) gives the same result as the file.
    _assert_same(_preds(inference_model(model, mmcv.imread(path1))), p)
    # A list gives a list; the images do not influence each other.
    r2 = inference_model(model, path2)
    batch = inference_model(model, [path1, path2])
    assert isinstance(batch, list) and len(batch) == 2
    _assert_same(_preds(batch[0]), p)
    _assert_same(_preds(batch[1]), _preds(r2))
    assert not torch.equal(_preds(r2)['depth'], p['depth'])

    with pytest.raises(TypeError, match='not both'):
        inference_model(model, [path1, mmcv.imread(path2)])
    with pytest.raises(ValueError, match='empty'):
        inference_model(model, [])


def test_inference_equals_test_loop_prediction(setup):
    """inference_model predicts what the test loop predicts on the dataset's sample."""
    cfg, model = setup['cfg'], setup['model']
    dataset = NYUDv2MultiTaskDataset(**{k: v for k, v in cfg.test_dataloader.dataset.items()
                                        if k != 'type'})
    item = dataset[0]
    assert 'gt_semseg' in item['data_samples']  # the dataset does load the labels
    expected = model.test_step(dict(inputs=[item['inputs']],
                                    data_samples=[item['data_samples']]))[0]
    _assert_same(_preds(inference_model(model, setup['images'][0])), _preds(expected))


def test_inference_pipeline_errors(setup):
    cfg = setup['cfg']
    steps = [type(t).__name__ for t in build_inference_pipeline(cfg).transforms]
    assert steps == ['LoadImageFromFile', 'MultiTaskResize', 'PackMultiTaskInputs']
    steps = [type(t).__name__ for t in build_inference_pipeline(cfg, from_array=True).transforms]
    assert steps[0] == 'LoadImageFromNDArray'

    no_pipeline = Config(dict(model=cfg.model, default_scope='mmdense'))
    with pytest.raises(KeyError, match='test pipeline'):
        build_inference_pipeline(no_pipeline)
    # Without test_dataloader, a top-level test_pipeline is used.
    top_level = Config(dict(default_scope='mmdense',
                            test_pipeline=[dict(type='PackMultiTaskInputs')]))
    with pytest.raises(ValueError, match='image loading'):
        build_inference_pipeline(top_level)
    with pytest.raises(AttributeError, match='model.cfg'):
        inference_model(torch.nn.Linear(1, 1), setup['images'][0])


def test_demo_tool(setup, capsys):
    demo = _load_tool('demo_multitask')
    out = str(setup['tmp'] / 'demo.png')
    demo.main([setup['images'][0], setup['cfg_path'], setup['ckpt'], '--out', out,
               '--panel-size', '64'])
    assert 'semseg, depth, normals, edge' in capsys.readouterr().out
    fig = mmcv.imread(out, channel_order='rgb')
    # One prediction row: the image and four task panels of 64 x 48 pixels.
    from mmdense.visualization import MultiTaskVisualizer as V
    assert fig.shape[:2] == (V._TITLE_H + 48 + V._GAP, V._SIDE_W + 5 * (64 + V._GAP))
    assert np.ptp(fig) > 0

    with pytest.raises(SystemExit) as exc:
        demo.main(['missing.png', setup['cfg_path'], setup['ckpt'], '--out', out])
    assert exc.value.code == 2
    assert "image 'missing.png' does not exist" in capsys.readouterr().err
