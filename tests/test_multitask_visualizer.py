"""Tests of MultiTaskVisualizer and MultiTaskVisualizationHook on hand-built samples."""
import itertools
import os.path as osp
from types import SimpleNamespace

import matplotlib
import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmengine.visualization import Visualizer

from mmdense.engine.hooks import MultiTaskVisualizationHook
from mmdense.registry import HOOKS, VISUALIZERS
from mmdense.structures import MultiTaskDataSample
from mmdense.visualization import MultiTaskVisualizer
from mmdense.visualization.multitask_visualizer import IGNORE_COLOR

H, W = 6, 8
PANEL = 64  # panel width in the tests; panels are 48 px high for 6x8 images
_names = itertools.count()


def _vis(**kwargs):
    kwargs.setdefault('panel_size', PANEL)
    return MultiTaskVisualizer.get_instance(f'test_mtvis_{next(_names)}', **kwargs)


def _sample(with_gt=True, with_pred=True, pred_size=(H, W)):
    s = MultiTaskDataSample()
    if with_gt:
        seg = torch.zeros(1, H, W, dtype=torch.uint8)
        seg[:, :, W // 2:] = 1
        seg[:, 0, 0] = 255
        s.gt_semseg = PixelData(data=seg)
        depth = torch.linspace(1.0, 3.0, H * W).reshape(1, H, W)
        depth[0, -1, -1] = 0
        s.gt_depth = PixelData(data=depth)
        normals = torch.zeros(3, H, W)
        normals[2] = 1
        normals[:, 0, 0] = 0
        s.gt_normals = PixelData(data=normals)
        edge = torch.zeros(1, H, W, dtype=torch.uint8)
        edge[:, :, W // 2] = 1
        s.gt_edge = PixelData(data=edge)
    if with_pred:
        h, w = pred_size
        s.pred_semseg = PixelData(data=torch.ones(1, h, w, dtype=torch.int64))
        s.pred_depth = PixelData(data=torch.full((1, h, w), 2.0))
        s.pred_normals = PixelData(data=torch.tensor([0.0, 2.0, 0.0]).view(3, 1, 1).expand(3, h, w))
        s.pred_edge = PixelData(data=torch.full((1, h, w), 0.5))
    return s


META = dict(classes=('wall', 'floor'), palette=[[10, 20, 30], [200, 100, 50]])


def test_registered():
    vis = VISUALIZERS.build(dict(type='MultiTaskVisualizer', name='test_mtvis_registry'))
    assert isinstance(vis, MultiTaskVisualizer)
    assert HOOKS.get('MultiTaskVisualizationHook') is MultiTaskVisualizationHook
    with pytest.raises(ValueError, match='unknown task'):
        _vis(tasks=['semseg', 'optical_flow'])
    with pytest.raises(ValueError, match='depth_range'):
        _vis(depth_range=(3.0, 1.0))


def test_draw_labels_uses_dataset_palette():
    vis = _vis()
    vis.dataset_meta = dict(META, human_parts_palette=[[0, 0, 0], [1, 2, 3], [4, 5, 6]],
                            human_parts_classes=('background', 'head', 'torso'))
    s = _sample()
    rgb, names = vis.draw_task('semseg', s.gt_semseg, is_gt=True)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[1, 0]) == (10, 20, 30) and tuple(rgb[1, -1]) == (200, 100, 50)
    assert tuple(rgb[0, 0]) == IGNORE_COLOR
    # Largest region first (one wall pixel is ignored).
    assert [n for n, _, _ in names] == ['floor', 'wall']
    assert names[0][1].sum() == H * W // 2 and names[1][1].sum() == H * W // 2 - 1

    parts = torch.tensor([[[0, 1, 2, 255]]])
    rgb, _ = vis.draw_task('human_parts', parts, is_gt=True)
    assert rgb[0].tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6], list(IGNORE_COLOR)]
    # Class scores are drawn as their argmax.
    scores = torch.zeros(2, 1, 2)
    scores[1, 0, 1] = 5
    rgb, _ = vis.draw_task('semseg', scores, is_gt=False)
    assert rgb[0].tolist() == [[10, 20, 30], [200, 100, 50]]


def test_draw_labels_without_meta_uses_a_fixed_palette():
    vis = _vis()
    rgb1, names = vis.draw_task('semseg', torch.tensor([[[0, 3, 7]]]), is_gt=False)
    rgb2, _ = _vis().draw_task('semseg', torch.tensor([[[0, 3, 7]]]), is_gt=False)
    np.testing.assert_array_equal(rgb1, rgb2)
    assert len({tuple(c) for c in rgb1[0]}) == 3 and names == []


def test_draw_depth_normals_probabilities():
    vis = _vis(depth_cmap='viridis')
    s = _sample()
    cmap = matplotlib.colormaps['viridis']
    rgb, _ = vis.draw_task('depth', s.gt_depth, is_gt=True, depth_range=(1.0, 3.0))
    np.testing.assert_array_equal(rgb[0, 0], (np.array(cmap(0.0)[:3]) * 255).astype(np.uint8))
    assert tuple(rgb[-1, -1]) == IGNORE_COLOR  # invalid ground truth
    rgb, _ = vis.draw_task('depth', torch.full((1, 2, 2), 5.0), is_gt=False,
                           depth_range=(1.0, 3.0))
    np.testing.assert_array_equal(rgb[0, 0], (np.array(cmap(1.0)[:3]) * 255).astype(np.uint8))

    rgb, _ = vis.draw_task('normals', s.gt_normals, is_gt=True)
    assert tuple(rgb[1, 1]) == (128, 128, 255) and tuple(rgb[0, 0]) == IGNORE_COLOR
    rgb, _ = vis.draw_task('normals', s.pred_normals, is_gt=False)  # normalised first
    assert tuple(rgb[0, 0]) == (128, 255, 128)

    rgb, _ = vis.draw_task('edge', torch.tensor([[[0.0, 0.5, 1.0]]]), is_gt=False)
    assert rgb[0, :, 0].tolist() == [0, 128, 255]
    rgb, _ = vis.draw_task('sal', torch.tensor([[[0, 1, 255]]], dtype=torch.uint8), is_gt=True)
    assert rgb[0].tolist() == [[0, 0, 0], [255, 255, 255], list(IGNORE_COLOR)]
    with pytest.raises(ValueError, match='3 channels'):
        vis.draw_task('normals', torch.zeros(2, 2, 2), is_gt=False)


def _grid_size(n_rows, n_cols, panel_h=48):
    vis = MultiTaskVisualizer
    return (n_rows * (vis._TITLE_H + panel_h + vis._GAP),
            vis._SIDE_W + n_cols * (PANEL + vis._GAP))


def _panel(drawn, row, col, panel_h=48):
    vis = MultiTaskVisualizer
    top = row * (vis._TITLE_H + panel_h + vis._GAP) + vis._TITLE_H
    left = vis._SIDE_W + col * (PANEL + vis._GAP)
    return drawn[top:top + panel_h, left:left + PANEL]


def test_add_datasample_writes_grid(tmp_path):
    vis = _vis()
    vis.dataset_meta = META
    image = np.full((H, W, 3), 77, np.uint8)
    out = tmp_path / 'fig.png'
    vis.add_datasample('sample', image, _sample(), out_file=str(out))
    drawn = mmcv.imread(str(out), channel_order='rgb')
    assert drawn.shape[:2] == _grid_size(2, 5)
    np.testing.assert_array_equal(drawn, vis.get_image())
    # Columns follow TASK_SPECS order: image, semseg, edge, depth, normals.
    np.testing.assert_array_equal(_panel(drawn, 0, 0), 77)
    pred_seg = _panel(drawn, 1, 1)
    assert tuple(pred_seg[0, 0]) == (200, 100, 50)  # the label text sits in the middle
    assert tuple(_panel(drawn, 0, 1)[-1, 0]) == (10, 20, 30)
    np.testing.assert_array_equal(_panel(drawn, 1, 2), 128)  # edge probability 0.5
    assert tuple(_panel(drawn, 1, 4)[5, 5]) == (128, 255, 128)

    # Only the requested / available rows are drawn.
    vis.add_datasample('p', image, _sample(), draw_gt=False, out_file=str(out))
    assert mmcv.imread(str(out)).shape[:2] == _grid_size(1, 5)
    vis.add_datasample('g', image, _sample(with_pred=False), out_file=str(out))
    assert mmcv.imread(str(out)).shape[:2] == _grid_size(1, 5)
    vis.add_datasample('i', image, None, out_file=str(out))
    assert mmcv.imread(str(out)).shape[:2] == _grid_size(1, 1)


def test_task_selection_and_resizing(tmp_path):
    vis = _vis(tasks=['depth', 'semseg'])
    vis.dataset_meta = META
    image = np.zeros((H, W, 3), np.uint8)
    # Predictions at another resolution than the image are resized to it.
    vis.add_datasample('x', image, _sample(pred_size=(3, 4)), out_file=str(tmp_path / 'a.png'))
    drawn = mmcv.imread(str(tmp_path / 'a.png'), channel_order='rgb')
    assert drawn.shape[:2] == _grid_size(2, 3)
    assert tuple(_panel(drawn, 1, 2)[0, 0]) == (200, 100, 50)
    with pytest.raises(ValueError, match='RGB'):
        vis.draw_multitask(np.zeros((H, W, 4), np.uint8), _sample())

    # Without a task list, the sample's metainfo['tasks'] sets the columns and their order.
    vis = _vis()
    sample = _sample()
    sample.set_metainfo(dict(tasks=['normals', 'edge']))
    drawn = vis.draw_multitask(image, sample)
    assert drawn.shape[:2] == _grid_size(2, 3)
    assert tuple(_panel(drawn, 1, 1)[5, 5]) == (128, 255, 128)
    np.testing.assert_array_equal(_panel(drawn, 1, 2), 128)


def test_add_datasample_records_in_backends(tmp_path):
    vis = _vis(vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path))
    vis.add_datasample('val_img', np.zeros((H, W, 3), np.uint8), _sample(), step=7)
    assert osp.isfile(tmp_path / 'vis_data' / 'vis_image' / 'val_img_7.png')


def _runner(tmp_path):
    return SimpleNamespace(work_dir=str(tmp_path), timestamp='20240101_000000', iter=12)


def _outputs(tmp_path, n):
    outputs = []
    for i in range(n):
        path = str(tmp_path / f'img{i}.jpg')
        mmcv.imwrite(np.full((H, W, 3), 30 * i, np.uint8), path)
        s = _sample()
        s.set_metainfo(dict(img_path=path))
        outputs.append(s)
    return outputs


def test_hook_test_mode_writes_files(tmp_path):
    vis = _vis()
    vis.dataset_meta = META
    hook = MultiTaskVisualizationHook(draw=True, interval=1, test_out_dir='vis')
    assert hook._visualizer is vis
    runner = _runner(tmp_path)
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, {}, _outputs(tmp_path, 2))
    out_dir = tmp_path / '20240101_000000' / 'vis'
    for i in range(2):
        drawn = mmcv.imread(str(out_dir / f'img{i}.png'))
        assert drawn.shape[:2] == _grid_size(2, 5)
    assert hook._test_index == 2


def test_hook_val_interval_and_backends(tmp_path):
    vis = _vis(vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path))
    hook = MultiTaskVisualizationHook(draw=True, interval=2)
    runner = _runner(tmp_path)
    image_dir = tmp_path / 'vis_data' / 'vis_image'
    hook.after_val_iter(runner, 0, {}, _outputs(tmp_path, 1))  # (batch_idx + 1) % 2 != 0
    assert not osp.isfile(image_dir / 'val_img0.jpg_12.png')
    hook.after_val_iter(runner, 1, {}, _outputs(tmp_path, 1))
    assert osp.isfile(image_dir / 'val_img0.jpg_12.png')
    assert vis.get_image().shape[:2] == _grid_size(2, 5)

    # The test loop records to the backends when no test_out_dir is given.
    hook.before_test(runner)
    hook.after_test_iter(runner, 1, {}, _outputs(tmp_path, 2))
    assert osp.isfile(image_dir / 'test_img1.jpg_2.png')

    # draw=False draws nothing.
    before = sorted(p.name for p in image_dir.iterdir())
    with pytest.warns(UserWarning, match='draw is False'):
        off = MultiTaskVisualizationHook(draw=False, interval=1)
    off.before_test(runner)
    off.after_test_iter(runner, 4, {}, _outputs(tmp_path, 1))
    off.after_val_iter(runner, 4, {}, _outputs(tmp_path, 1))
    assert sorted(p.name for p in image_dir.iterdir()) == before


def test_hook_errors(tmp_path):
    _vis()
    with pytest.raises(ValueError, match='interval'):
        MultiTaskVisualizationHook(draw=True, interval=0)
    hook = MultiTaskVisualizationHook(draw=True, interval=1)
    with pytest.raises(KeyError, match='img_path'):
        hook.after_val_iter(_runner(tmp_path), 0, {}, [_sample()])
    # A single-task visualizer cannot draw multi-task samples: say what to configure.
    Visualizer.get_instance(f'test_plain_vis_{next(_names)}')
    hook = MultiTaskVisualizationHook(draw=True, interval=1)
    with pytest.raises(TypeError, match="type='MultiTaskVisualizer'"):
        hook.after_val_iter(_runner(tmp_path), 0, {}, _outputs(tmp_path, 1))
