"""TaskSpec as the one task contract: a new task added in one place, and the config check."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmdense.datasets import NYUDv2MultiTaskDataset
from mmdense.datasets.transforms import MultiTaskRandomFlip
from mmdense.evaluation.functional.multitask import HIGHER_IS_BETTER
from mmdense.models.segmentors import MultiTaskEncoderDecoder
from mmdense.models.segmentors.dense_inference import unpad_unflip_resize
from mmdense.registry import DATASETS
from mmdense.structures import (
    TASK_EVALUATIONS,
    TASK_SPECS,
    TaskSpec,
    metainfo_key,
    register_task,
    unregister_task,
)
from mmdense.utils.task_consistency import TaskConsistencyError, task_consistency_problems
from tests.helpers.multitask_fixtures import write_nyud_fixture
from tests.helpers.seg_fixture import REPO
from tests.test_multitask_segmentor import TINY_HRNET

HEAD_KEY = 'decode_head'

# The "Add a task" example of configs/demt/README.md.
DISPARITY = TaskSpec(kind='regression', metrics='depth', title='disparity', min_value=0.0,
                     unit='px')


@DATASETS.register_module(force=True)
class NYUDWithDisparity(NYUDv2MultiTaskDataset):
    """NYUD-v2 plus a ``disparity/<id>.npy`` folder (a dataset that loads the new task)."""

    TASKS = NYUDv2MultiTaskDataset.TASKS + ('disparity', )
    _FOLDERS = dict(NYUDv2MultiTaskDataset._FOLDERS, disparity=('disparity', '.npy'))
    _DECODERS = dict(NYUDv2MultiTaskDataset._DECODERS, disparity=dict(type='npy_depth'))


@pytest.fixture
def disparity_task():
    register_task('disparity', DISPARITY)
    yield
    unregister_task('disparity')


def _write_data(root):
    write_nyud_fixture(root, num_train=2, num_val=1, size=(32, 32))
    (root / 'disparity').mkdir()
    for i in range(3):
        depth = np.load(root / 'depth' / f'{i:06d}.npy')
        disparity = np.where(depth > 0, 1. / np.maximum(depth, 1e-6), 0.).astype(np.float32)
        np.save(root / 'disparity' / f'{i:06d}.npy', disparity)
    return str(root)


def _cfg(data_root, work_dir, head_tasks=('semseg', 'disparity'), train_tasks=None,
         max_iters=8):
    tasks = list(head_tasks)
    channels = dict(semseg=40, disparity=1, depth=1)
    losses = dict(semseg=dict(type='DenseCrossEntropyLoss'),
                  disparity=dict(type='MaskedL1Loss', loss_weight=10.0),
                  depth=dict(type='MaskedL1Loss'))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadMultiTaskAnnotations'),
                dict(type='PackMultiTaskInputs')]

    def loader(split, tasks_, sampler):
        return dict(batch_size=2 if split == 'train' else 1, num_workers=0,
                    sampler=dict(type=sampler, shuffle=False),
                    dataset=dict(type='NYUDWithDisparity', data_root=data_root, split=split,
                                 tasks=tasks_, pipeline=pipeline, test_mode=split != 'train'))

    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/default_runtime.py'))
    cfg.merge_from_dict(dict(
        work_dir=work_dir,
        model=dict(
            type='MultiTaskEncoderDecoder', backbone=TINY_HRNET,
            data_preprocessor=dict(type='MultiTaskDataPreProcessor', mean=[123.675, 116.28,
                                                                           103.53],
                                   std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                                   size_divisor=32),
            losses={t: losses[t] for t in tasks},
            **{HEAD_KEY: dict(type='DeMTHead', in_channels=[4, 8, 16, 32], tasks=tasks,
                              task_channels={t: channels[t] for t in tasks}, channels=16)}),
        train_dataloader=loader('train', list(train_tasks or tasks), 'InfiniteSampler'),
        val_dataloader=loader('val', tasks, 'DefaultSampler'),
        val_evaluator=dict(type='MultiTaskMetric', tasks=tasks),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=1000),
        val_cfg=dict(type='ValLoop'),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-2)),
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=100)),
        visualizer=dict(type='MultiTaskVisualizer', name=osp.basename(osp.dirname(work_dir))),
        randomness=dict(seed=0)))
    return cfg


def test_builtin_specs_hold_the_task_facts():
    assert TASK_SPECS['normals'].flip_sign('horizontal') == (-1., 1., 1.)
    with pytest.raises(NotImplementedError, match="'vertical' flip is not defined"):
        TASK_SPECS['normals'].flip_sign('vertical')
    assert TASK_SPECS['depth'].flip_sign('vertical') is None
    assert TASK_SPECS['depth'].min_value == 0 and TASK_SPECS['depth'].divide_by_zoom
    assert [s.pred for s in TASK_SPECS.values()] == ['label', 'label', 'prob', 'prob', 'value',
                                                     'value']
    assert [s.ignore_value for s in TASK_SPECS.values()] == [255, 255, 255, 255, 0., 0.]
    assert TASK_SPECS['edge'].metric_names == ('odsF', 'oisF', 'AP')
    # Delta_m's directions are read from the same table; a shared name has one direction.
    for metrics in TASK_EVALUATIONS.values():
        for name, higher in metrics.items():
            assert HIGHER_IS_BETTER[name] is higher, name
    assert not HIGHER_IS_BETTER['rmse'] and HIGHER_IS_BETTER['maxF']
    assert metainfo_key('semseg', 'classes') == 'classes'
    assert metainfo_key('human_parts', 'palette') == 'human_parts_palette'
    assert metainfo_key('edge', 'tolerance') == 'edge_tolerance'
    with pytest.raises(ValueError, match='kind must be one of'):
        TaskSpec('scalar', 'depth', 'x')
    with pytest.raises(ValueError, match='metrics must be one of'):
        TaskSpec('regression', 'l2', 'x')
    with pytest.raises(ValueError, match="flip_signs\\['horizontal'\\] has 1 factors for 3"):
        TaskSpec('unit_vector', 'normals', 'x', gt_channels=3, flip_signs=dict(horizontal=(-1,)))


def test_register_task_refuses_clashes(disparity_task):
    assert TASK_SPECS['disparity'] is DISPARITY
    register_task('disparity', DISPARITY)  # the same spec again is fine
    with pytest.raises(KeyError, match='already registered'):
        register_task('disparity', TaskSpec('regression', 'depth', 'other'))
    with pytest.raises(KeyError, match='built-in'):
        unregister_task('depth')
    with pytest.raises(ValueError, match='identifier'):
        register_task('my task', DISPARITY)


def test_flip_sign_is_read_from_the_spec(disparity_task):
    # A registered task with a sign flips like normals do, without any name check.
    register_task('flow', TaskSpec('regression', 'depth', 'flow', gt_channels=2,
                                   flip_signs=dict(horizontal=(-1., 1.))))
    try:
        flow = np.stack([np.full((2, 3), 2.), np.full((2, 3), 5.)], -1).astype(np.float32)
        flow[0, 0] = (7., 1.)
        results = dict(img=np.zeros((2, 3, 3), np.uint8), gt_flow=flow.copy(),
                       task_fields=['gt_flow'])
        out = MultiTaskRandomFlip(prob=1.)(results)
        assert out['gt_flow'][0, 2].tolist() == [-7., 1.]
        assert out['gt_flow'][1, 1].tolist() == [-2., 5.]
        logit = torch.from_numpy(out['gt_flow']).permute(2, 0, 1)[None]
        undone = MultiTaskEncoderDecoder._postprocess_task(
            'flow', unpad_unflip_resize(logit, flip_direction='horizontal')[0], 'horizontal')
        assert torch.equal(undone.permute(1, 2, 0), torch.from_numpy(flow))
    finally:
        unregister_task('flow')


def test_the_visualizer_draws_a_registered_task_by_its_kind(disparity_task):
    from mmdense.visualization import MultiTaskVisualizer
    from mmdense.visualization.multitask_visualizer import IGNORE_COLOR

    vis = MultiTaskVisualizer(name='task-spec-draw')
    gt = torch.tensor([[[0., 1.], [2., 3.]]])
    rgb, names = vis.draw_task('disparity', gt, is_gt=True, depth_range=(1., 3.))
    assert names == [] and rgb.shape == (2, 2, 3)
    assert tuple(rgb[0, 0]) == IGNORE_COLOR  # the ignore value (0) is drawn apart
    assert len({tuple(c) for c in rgb.reshape(-1, 3)}) == 4  # a colour map, not labels


def test_a_registered_task_trains_and_evaluates(disparity_task, tmp_path):
    data_root = _write_data(tmp_path / 'data')
    cfg = _cfg(data_root, str(tmp_path / 'work'))
    assert task_consistency_problems(cfg) == []
    runner = Runner.from_cfg(cfg)
    runner.train()
    history = runner.message_hub.get_scalar('train/loss_disparity').data[0]
    assert len(history) == 8 and np.isfinite(history).all()
    # The same batch every iteration: the new task's loss goes down.
    assert history[-2:].mean() < 0.7 * history[:2].mean(), history
    metrics = runner.val()
    for name in TASK_SPECS['disparity'].metric_names:
        assert math.isfinite(metrics[f'disparity/{name}']), (name, metrics)
    assert 0 <= metrics['semseg/mIoU'] <= 100
    # Predictions obey the spec: one channel, clamped at min_value.
    sample = runner.val_dataloader.dataset[0]
    batch = dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']])
    pred = runner.model.test_step(batch)[0].pred_disparity.data
    assert pred.shape == (1, 32, 32) and pred.min() >= 0


def test_a_task_mismatch_fails_when_the_run_starts(disparity_task, tmp_path):
    data_root = _write_data(tmp_path / 'data')
    # The head predicts disparity, the training set does not load it: without the check this
    # is a KeyError ("has no gt_disparity") at the first loss.
    cfg = _cfg(data_root, str(tmp_path / 'work'), train_tasks=['semseg'], max_iters=1)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TaskConsistencyError,
                       match=r"train_dataloader\.dataset\.tasks \['semseg'\] lacks "
                             rf"\['disparity'\], which model\.{HEAD_KEY}\.tasks"):
        runner.train()


def test_consistency_reads_the_head_channels_against_the_specs():
    cfg = Config.fromfile(osp.join(REPO, 'configs/demt/nyud_hrnet.py'))
    assert task_consistency_problems(cfg) == []
    for key in ('decode_head', ):
        other = Config(cfg.to_dict())
        other.model[key].task_channels.normals = 1
        other.model[key].task_channels.edge = 3
        problems = task_consistency_problems(other)
        assert problems == [
            f'model.{key}.task_channels.normals is 1 but a unit_vector task (normals) needs 3 '
            'output channel(s)',
            f'model.{key}.task_channels.edge is 3 but a binary task (edge) needs 1 or 2 output '
            'channel(s)'], problems
    other = Config(cfg.to_dict())
    other.model.decode_head.tasks = ['semseg', 'disparity']
    assert task_consistency_problems(other) == [
        f"model.decode_head.tasks ['semseg', 'disparity'] has ['disparity'], which are no "
        f'registered task (known: {list(TASK_SPECS)}; add one with '
        'mmdense.structures.register_task)']
    other = Config(cfg.to_dict())
    other.test_dataloader.dataset.metainfo = dict(edge_tolerance=None)
    other.test_evaluator.edge_max_dist = 0.011
    problems = task_consistency_problems(other)
    assert problems == [
        'test_evaluator evaluates edge, but test_dataloader.dataset has no metainfo '
        'edge_tolerance (the boundary matching distance the metric reads from dataset_meta)',
        'test_evaluator.edge_max_dist is no longer used: the boundary tolerance is the dataset '
        'metainfo edge_tolerance'], problems
