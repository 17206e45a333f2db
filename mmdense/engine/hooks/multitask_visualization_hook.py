"""Hook drawing the multi-task predictions of the validation and test loops."""
from __future__ import annotations

import os.path as osp
import warnings
from collections.abc import Sequence

import mmcv
import mmengine.fileio as fileio
from mmengine.hooks import Hook
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer

from mmdense.registry import HOOKS
from mmdense.structures import MultiTaskDataSample


@HOOKS.register_module()
class MultiTaskVisualizationHook(Hook):
    """Draw multi-task predictions with the runner's visualizer (a ``MultiTaskVisualizer``).

    It mirrors mmseg's ``SegVisualizationHook``: every sample of every ``interval``-th
    validation or test batch is drawn, ground truth row included, and recorded in the
    visualizer's backends (``LocalVisBackend`` writes ``<save_dir>/vis_data/vis_image/
    {val,test}_<image name>_<step>.png``; ``tools/test.py --show-dir DIR`` sets ``draw=True``,
    ``interval=1`` and the visualizer's ``save_dir`` to ``DIR``). With ``test_out_dir`` the
    test figures are written to ``<work_dir>/<timestamp>/<test_out_dir>/<image stem>.png``
    instead, as mmdet's hook does.

    ``draw`` is False by default, as in mmseg.

    Args:
        draw: whether to draw at all.
        interval: draw every ``interval`` validation / test batches.
        show: display the figures (the backends are then dropped, as in mmseg).
        wait_time: seconds each shown figure stays (0: until a key is pressed).
        draw_gt: add the ground-truth row when the samples carry ground truth.
        test_out_dir: folder (relative to ``<work_dir>/<timestamp>``, or absolute) for the
            test figures.
        backend_args: file backend arguments to read the images.
    """

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 draw_gt: bool = True,
                 test_out_dir: str | None = None,
                 backend_args: dict | None = None) -> None:
        if interval < 1:
            raise ValueError(f'MultiTaskVisualizationHook: interval must be >= 1, got {interval}')
        self._visualizer: Visualizer = Visualizer.get_current_instance()
        self.interval = interval
        self.show = show
        if self.show:
            # Only display: nothing is stored.
            self._visualizer._vis_backends = {}
            warnings.warn('The show is True, it means that only the prediction results are '
                          'visualized without storing data, so vis_backends needs to be '
                          'excluded.', stacklevel=2)
        self.wait_time = wait_time
        self.draw_gt = draw_gt
        self.test_out_dir = test_out_dir
        self.backend_args = backend_args.copy() if backend_args else None
        self.draw = draw
        if not self.draw:
            warnings.warn('The draw is False, it means that the hook for visualization will '
                          'not take effect. The results will NOT be visualized or stored.',
                          stacklevel=2)
        self._test_index = 0
        self._resolved_out_dir: str | None = None

    def _load_image(self, data_sample: MultiTaskDataSample):
        img_path = data_sample.metainfo.get('img_path')
        if img_path is None:
            raise KeyError('MultiTaskVisualizationHook: the output sample has no img_path in '
                           'its metainfo, so its image cannot be drawn (keep img_path in the '
                           'meta_keys of the packing transform)')
        img_bytes = fileio.get(img_path, backend_args=self.backend_args)
        return img_path, mmcv.imfrombytes(img_bytes, channel_order='rgb')

    def _draw_batch(self, runner, batch_idx: int, outputs: Sequence[MultiTaskDataSample],
                    mode: str) -> None:
        if not self.draw or not self.every_n_inner_iters(batch_idx, self.interval):
            return
        if not hasattr(self._visualizer, 'draw_multitask'):
            raise TypeError(
                f'MultiTaskVisualizationHook draws with a MultiTaskVisualizer, but the runner\'s '
                f'visualizer is a {type(self._visualizer).__name__}; set visualizer = '
                "dict(type='MultiTaskVisualizer', vis_backends=[dict(type='LocalVisBackend')], "
                "name='visualizer') in the config")
        for data_sample in outputs:
            img_path, img = self._load_image(data_sample)
            out_file = None
            if mode == 'test':
                self._test_index += 1
                if self._resolved_out_dir is not None:
                    stem = osp.splitext(osp.basename(img_path))[0]
                    out_file = osp.join(self._resolved_out_dir, f'{stem}.png')
            self._visualizer.add_datasample(
                f'{mode}_{osp.basename(img_path)}',
                img,
                data_sample=data_sample,
                draw_gt=self.draw_gt,
                show=self.show,
                wait_time=self.wait_time,
                out_file=out_file,
                step=runner.iter if mode == 'val' else self._test_index)

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence[MultiTaskDataSample]) -> None:
        self._draw_batch(runner, batch_idx, outputs, 'val')

    def before_test(self, runner) -> None:
        self._test_index = 0
        if self.draw and self.test_out_dir is not None:
            self._resolved_out_dir = osp.join(runner.work_dir, runner.timestamp,
                                              self.test_out_dir)
            mkdir_or_exist(self._resolved_out_dir)

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[MultiTaskDataSample]) -> None:
        self._draw_batch(runner, batch_idx, outputs, 'test')
