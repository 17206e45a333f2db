"""tools/train.py --tensorboard writes TensorBoard events with the losses and the metrics."""
import glob
import os.path as osp

import pytest

from tests.helpers.run_tool import run_tool
from tests.helpers.seg_fixture import write_seg_config, write_seg_fixture


def _scalar_tags(event_file):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(event_file)
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


@pytest.mark.slow
def test_train_tensorboard_writes_losses_and_metrics(tmp_path):
    pytest.importorskip('tensorboard')
    data = write_seg_fixture(str(tmp_path / 'data'))
    cfg = write_seg_config(str(tmp_path / 'tiny_fcn.py'), data, max_iters=2, interval=2)
    work = str(tmp_path / 'work')
    run_tool('tools/train.py', cfg, '--work-dir', work, '--tensorboard',
             '--cfg-options', 'default_hooks.logger.interval=1')
    events = glob.glob(osp.join(work, '*', 'vis_data', 'events.out.tfevents.*'))
    assert len(events) == 1, events
    scalars = _scalar_tags(events[0])
    # Losses at every logged iteration, the validation metric once.
    assert len(scalars['loss']) == 2 and len(scalars['decode.loss_ce']) == 2
    assert 'lr' in scalars
    assert len(scalars['mIoU']) == 1 and 0 <= scalars['mIoU'][0] <= 100
    # The JSON scalars of the LocalVisBackend are still written next to the events.
    assert glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))


def test_tensorboard_backend_added_once():
    import importlib.util

    from mmengine.config import Config

    from tests.helpers.seg_fixture import REPO
    spec = importlib.util.spec_from_file_location('train_tool', osp.join(REPO, 'tools/train.py'))
    train_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_tool)
    pytest.importorskip('tensorboard')
    cfg = Config(dict(visualizer=dict(type='SegLocalVisualizer',
                                      vis_backends=[dict(type='LocalVisBackend')])))
    train_tool.add_tensorboard_backend(cfg)
    train_tool.add_tensorboard_backend(cfg)
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']
    assert cfg.visualizer.type == 'SegLocalVisualizer'
    cfg = Config(dict())
    train_tool.add_tensorboard_backend(cfg)
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']
