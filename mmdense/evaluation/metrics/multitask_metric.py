"""Evaluation of every dense task of a multi-task model (NYUD-v2, PASCAL-Context), plus Delta_m."""
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement, PixelData

from mmdense.registry import METRICS
from mmdense.structures.task_spec import TASK_SPECS, metainfo_key

from ..functional import (
    SAL_IOU_THRESHOLDS,
    boundary_match_counts,
    boundary_metrics,
    boundary_thresholds,
    delta_m,
    depth_error_sums,
    depth_metrics,
    normals_error_stats,
    normals_metrics,
    parse_baselines,
    saliency_counts,
    saliency_metrics,
    saliency_thresholds,
    segmentation_areas,
    segmentation_metrics,
)


@METRICS.register_module()
class MultiTaskMetric(BaseMetric):
    """Metrics of the multi-task dense-prediction benchmarks, following the official DeMT / ATRC
    evaluation (and ASTMT / MTI-Net where DeMT has none).

    Each data sample holds ``gt_<task>`` and ``pred_<task>`` (see
    :mod:`mmdense.structures.multitask_data_sample`) at the original image resolution. For every
    task and image, :meth:`process` keeps only a small reduction (class areas, error sums, a
    sparse error histogram, per-threshold counts), so results gathered across ranks stay small
    even for the boundary evaluation, whose expensive pixel matching also runs in
    :meth:`process`. Reported metrics (percentages except errors):

    - ``semseg``, ``human_parts``: ``mIoU``, ``mAcc``, ``aAcc`` and ``IoU.<class>``; the task's
      ``TaskSpec.ignore_value`` (255) is ignored, here and in the saliency and boundary maps.
    - ``depth``: ``rmse``, ``abs_rel``, ``log_rmse``, ``delta1..3`` over pixels with gt > 0,
      pooled over all pixels of the set (the official RMSE is not a mean of per-image RMSEs).
    - ``normals``: ``mean``, ``median``, ``rmse`` angular error in degrees and ``11.25``,
      ``22.5``, ``30``: % of pixels below that many degrees; pixels with zero gt are ignored.
    - ``sal``: ``maxF`` (DeMT / ATRC: beta^2 = 0.3, thresholds 0.05..0.95, counts pooled over
      the set), ``maxmIoU`` (ASTMT / MTI-Net's saliency "mIoU": per-image foreground IoU of the
      8-bit map at 15 thresholds 0.2..0.9, averaged over images, best threshold) and ``mIoU``
      (the same mean at ``prob > sal_iou_threshold`` only; not a published number). See
      :mod:`mmdense.evaluation.functional.saliency`.
    - ``edge``: ``odsF``, ``oisF``, ``AP`` with the BSDS/SEISM matching (see
      :mod:`mmdense.evaluation.functional.boundary`) against ``gt_edge`` as given; for
      PASCAL-Context the dataset gives SEISM's ``bwmorph(seg2bmap(LabelMap), 'thin', Inf)`` in
      test mode.
    - A NaN prediction on a labelled pixel makes the metrics of its task NaN (depth, normals,
      saliency, edge) instead of being scored as a miss or as background.
    - ``multitask/delta_m`` when ``single_task_baselines`` is given.

    Keys are ``'<task>/<metric>'``, e.g. ``'semseg/mIoU'``, ``'edge/odsF'``. Which evaluation a
    task gets, and its summary metrics, is its ``TaskSpec.metrics`` (see
    :data:`~mmdense.structures.TASK_EVALUATIONS`); the tasks above are the built-in ones.

    Like mmseg's metrics, the dataset-dependent settings come from ``dataset_meta`` (set by the
    runner from the dataset's metainfo): the class names and counts of label tasks
    (``classes`` for semseg, ``<task>_classes`` otherwise) and the boundary matching
    tolerance ``<task>_tolerance`` (``edge_tolerance``: 0.0075 for PASCAL-Context, 0.011 for
    NYUD-v2, as a fraction of the image diagonal).

    Args:
        tasks: tasks to evaluate, names of :data:`~mmdense.structures.TASK_SPECS`.
        num_classes: optional classes per label task, overriding ``dataset_meta``. A task
            missing here takes the length of its class names (``class_names`` or
            ``dataset_meta``).
        class_names: optional class names per label task, for the ``IoU.<class>`` keys. Else
            the dataset's (``dataset_meta['<task>_classes']``, ``['classes']`` for semseg);
            else the class indices.
        sal_threshold_step: step of the maxF thresholds ``step, 2 step, ... < 1``.
        sal_beta_squared: beta^2 of the saliency F-measure.
        sal_iou_threshold: probability above which a pixel is salient for ``sal/mIoU``.
        sal_iou_thresholds: thresholds of ``sal/maxmIoU`` (default: ASTMT / MTI-Net's
            ``numpy.linspace(0.2, 0.9, 15)``).
        edge_thresholds: number of evenly spaced thresholds (99: 0.01..0.99) or the list of
            thresholds. Fewer thresholds make validation faster.
        edge_thinning: thin the binarised boundary maps (BSDS protocol).
        edge_nms: apply structured-edge NMS before thresholding (not in the DeMT protocol).
        edge_quantize: round probabilities down to 1/255 steps like the official 8-bit PNGs.
        edge_num_workers: worker processes sharing the thresholds of each image (0: match in
            this process). The BSDS matching is slow: about 0.5-1.5 s per threshold for a
            425x560 map with 10k boundary pixels, so 99 thresholds cost minutes per image;
            use workers, or fewer thresholds for validation during training. Workers are
            spawned, so the launching script needs an ``if __name__ == '__main__'`` guard
            (``tools/test.py`` and ``tools/train.py`` have one).
        normals_median_bin: width in degrees of the histogram bins the median is read from.
        single_task_baselines: ``{task: {metric: value}}`` for Delta_m, in the units reported
            here (e.g. ``dict(semseg=dict(mIoU=41.8), depth=dict(rmse=0.58))``). A value may be
            ``dict(value=..., higher_is_better=...)`` for a metric of unknown direction.
        collect_device: device used to gather results across ranks, ``'cpu'`` or ``'gpu'``.
        prefix: optional prefix of the metric names.
        edge_max_dist: removed (it repeated the dataset's ``edge_tolerance``); giving it
            raises an error that says so.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 num_classes: Mapping[str, int] | None = None,
                 class_names: Mapping[str, Sequence[str]] | None = None,
                 sal_threshold_step: float = 0.05,
                 sal_beta_squared: float = 0.3,
                 sal_iou_threshold: float = 0.5,
                 sal_iou_thresholds: Sequence[float] = SAL_IOU_THRESHOLDS,
                 edge_thresholds: int | Sequence[float] = 99,
                 edge_thinning: bool = True,
                 edge_nms: bool = False,
                 edge_quantize: bool = True,
                 edge_num_workers: int = 0,
                 normals_median_bin: float = 0.1,
                 single_task_baselines: Mapping[str, Mapping[str, Any]] | None = None,
                 collect_device: str = 'cpu',
                 prefix: str | None = None,
                 edge_max_dist: None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if edge_max_dist is not None:
            raise ValueError('MultiTaskMetric: edge_max_dist is no longer an argument; the '
                             'boundary tolerance is the dataset metainfo edge_tolerance (set '
                             'metainfo=dict(edge_tolerance=...) in the dataset config)')
        if isinstance(tasks, str) or not tasks:
            raise ValueError(f'MultiTaskMetric: tasks must be a non-empty list of task names, '
                             f'got {tasks!r}')
        unknown = [t for t in tasks if t not in TASK_SPECS]
        if unknown:
            raise ValueError(f'MultiTaskMetric: unknown task(s) {unknown} in tasks; '
                             f'known: {sorted(TASK_SPECS)}')
        self.tasks = list(tasks)
        self.num_classes = dict(num_classes or {})
        self.class_names = {k: list(v) for k, v in (class_names or {}).items()}
        for key, mapping in (('num_classes', self.num_classes),
                             ('class_names', self.class_names)):
            for task in mapping:
                if task not in TASK_SPECS or TASK_SPECS[task].kind != 'classes':
                    labels = [t for t, s in TASK_SPECS.items() if s.kind == 'classes']
                    raise ValueError(f'MultiTaskMetric: {key}[{task!r}] given, but {task!r} is '
                                     f'not a label task ({", ".join(labels)})')
        for task, n in self.num_classes.items():
            if not isinstance(n, int) or n < 1:
                raise ValueError(f'MultiTaskMetric: num_classes[{task!r}] must be a positive '
                                 f'int, got {n!r}')
            names = self.class_names.get(task)
            if names is not None and len(names) != n:
                raise ValueError(f'MultiTaskMetric: class_names[{task!r}] has {len(names)} '
                                 f'names but num_classes[{task!r}] is {n}')
        if normals_median_bin <= 0:
            raise ValueError('MultiTaskMetric: normals_median_bin must be > 0, '
                             f'got {normals_median_bin}')
        self.sal_thresholds = saliency_thresholds(sal_threshold_step)
        self.sal_beta_squared = sal_beta_squared
        self.sal_iou_threshold = sal_iou_threshold
        self.sal_iou_thresholds = tuple(float(t) for t in sal_iou_thresholds)
        if not self.sal_iou_thresholds:
            raise ValueError('MultiTaskMetric: sal_iou_thresholds is empty')
        self.edge_thresholds = boundary_thresholds(edge_thresholds)
        self.edge_thinning = edge_thinning
        self.edge_nms = edge_nms
        self.edge_quantize = edge_quantize
        if not isinstance(edge_num_workers, int) or edge_num_workers < 0:
            raise ValueError('MultiTaskMetric: edge_num_workers must be an int >= 0, '
                             f'got {edge_num_workers!r}')
        self.edge_num_workers = edge_num_workers
        self._edge_pool: ProcessPoolExecutor | None = None
        self.normals_median_bin = normals_median_bin

        self.baselines = parse_baselines(single_task_baselines or {})
        for task, metrics in self.baselines.items():
            if task not in self.tasks:
                raise ValueError(f'MultiTaskMetric: single_task_baselines has task {task!r}, '
                                 f'which is not in tasks {self.tasks}')
            known = TASK_SPECS[task].metric_names
            for metric in metrics:
                per_class = TASK_SPECS[task].metrics == 'segmentation' and \
                    metric.startswith('IoU.')
                if metric not in known and not per_class:
                    raise ValueError(f'MultiTaskMetric: single_task_baselines[{task!r}] has '
                                     f'metric {metric!r}; {task} reports {list(known)}')

    # ------------------------------------------------------------------ per-sample reductions
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Reduce each sample to small per-task statistics and append them to ``self.results``.

        Args:
            data_batch: the batch from the dataloader (unused).
            data_samples: model outputs, as dicts (what mmengine's ``Evaluator`` passes) or
                :class:`~mmdense.structures.MultiTaskDataSample`.
        """
        for sample in data_samples:
            result = {}
            for task in self.tasks:
                pred = _pixel_data(sample, f'pred_{task}')
                gt = _pixel_data(sample, f'gt_{task}')
                result[task] = self._reduce(task, pred, gt)
            self.results.append(result)

    def _reduce(self, task: str, pred: torch.Tensor, gt: torch.Tensor) -> Any:
        spec = TASK_SPECS[task]
        family = spec.metrics
        channels = spec.gt_channels
        gt = _as_chw(gt, task, 'gt')
        pred = _as_chw(pred, task, 'pred')
        if gt.shape[-2:] != pred.shape[-2:]:
            raise ValueError(f'MultiTaskMetric: pred_{task} is {tuple(pred.shape[-2:])} but '
                             f'gt_{task} is {tuple(gt.shape[-2:])}; predictions must be at the '
                             'ground-truth resolution')
        if gt.shape[0] != channels:
            raise ValueError(f'MultiTaskMetric: gt_{task} must have {channels} channel(s), got '
                             f'shape {tuple(gt.shape)}')
        gt = gt.to(pred.device)

        if family == 'segmentation':
            num_classes = self._num_classes(task)
            if pred.is_floating_point() and torch.isnan(
                    pred[:, gt[0] != spec.ignore_value]).any():
                # argmax would silently pick the NaN channel.
                return np.full((4, num_classes), np.nan)
            if pred.shape[0] > 1:  # scores instead of labels
                pred = pred.argmax(dim=0, keepdim=True)
            return segmentation_areas(pred[0], gt[0], num_classes, int(spec.ignore_value))
        if pred.shape[0] != spec.pred_channels:
            raise ValueError(f'MultiTaskMetric: pred_{task} must have {spec.pred_channels} '
                             f'channel(s) ({spec.pred}), got shape {tuple(pred.shape)}')
        if family == 'depth':
            return depth_error_sums(pred[0], gt[0])
        if family == 'normals':
            return normals_error_stats(pred, gt, self.normals_median_bin)
        if family == 'saliency':
            return saliency_counts(pred[0], gt[0], self.sal_thresholds, self.sal_iou_threshold,
                                   int(spec.ignore_value), self.sal_iou_thresholds)
        return self._boundary_counts(task, pred[0], gt[0])

    def _boundary_counts(self, task: str, prob: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
        max_dist = self._boundary_tolerance(task)
        prob = prob.float().cpu().numpy()
        gt = gt.cpu().numpy()
        valid = gt != TASK_SPECS[task].ignore_value
        if not valid.all():
            # Padding is cropped away (the official code crops before saving predictions);
            # the matching tolerance scales with the diagonal of the unpadded image.
            rows, cols = np.flatnonzero(valid.any(1)), np.flatnonzero(valid.any(0))
            if rows.size == 0:
                return np.zeros((len(self.edge_thresholds), 4), dtype=np.int32)
            crop = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            prob, gt, valid = prob[crop], gt[crop], valid[crop]
            prob = np.where(valid, prob, 0)
        kwargs = dict(max_dist=max_dist, thinning=self.edge_thinning,
                      nms=self.edge_nms, quantize=self.edge_quantize)
        gt = (gt == 1) & valid
        if self.edge_num_workers == 0:
            return boundary_match_counts(prob, gt, self.edge_thresholds, **kwargs)
        if self._edge_pool is None:
            # spawn: forking a process that holds CUDA or NCCL state is unsafe.
            self._edge_pool = ProcessPoolExecutor(
                self.edge_num_workers, mp_context=multiprocessing.get_context('spawn'))
        # Interleaved shares balance the work: low thresholds leave more pixels to match.
        shares = [np.arange(i, len(self.edge_thresholds), self.edge_num_workers)
                  for i in range(min(self.edge_num_workers, len(self.edge_thresholds)))]
        futures = [
            self._edge_pool.submit(boundary_match_counts, prob, gt, self.edge_thresholds[idx],
                                   **kwargs) for idx in shares
        ]
        counts = np.empty((len(self.edge_thresholds), 4), dtype=np.int32)
        for idx, future in zip(shares, futures):
            counts[idx] = future.result()
        return counts

    # ------------------------------------------------------------------------- aggregation
    def evaluate(self, size: int) -> dict:
        # Every rank reaches evaluate() after its last process(); only rank 0 computes.
        self._shutdown_edge_pool()
        return super().evaluate(size)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Aggregate the per-sample statistics of all ranks.

        Args:
            results: the ``self.results`` items of every rank.

        Returns:
            Metrics keyed ``'<task>/<metric>'`` plus ``'multitask/delta_m'`` with baselines.
        """
        if not results:
            return {f'{task}/{name}': float('nan') for task in self.tasks
                    for name in TASK_SPECS[task].metric_names}
        metrics: dict[str, float] = {}
        for task in self.tasks:
            items = [r[task] for r in results]
            family = TASK_SPECS[task].metrics
            if family == 'segmentation':
                out = segmentation_metrics(np.sum(items, axis=0), self._class_names(task))
            elif family == 'depth':
                out = depth_metrics(np.sum(items, axis=0))
            elif family == 'normals':
                out = normals_metrics(
                    np.sum([r['sums'] for r in items], axis=0),
                    np.concatenate([r['hist_bins'] for r in items]),
                    np.concatenate([r['hist_counts'] for r in items]),
                    self.normals_median_bin)
            elif family == 'saliency':
                out = saliency_metrics(
                    np.sum([r['counts'] for r in items], axis=0),
                    np.array([r['iou'] for r in items]), self.sal_beta_squared,
                    np.stack([r['ious'] for r in items]))
            else:
                out = boundary_metrics(np.stack(items))
            metrics.update({f'{task}/{name}': value for name, value in out.items()})
        if self.baselines:
            metrics['multitask/delta_m'] = delta_m(metrics, self.baselines)
        self._log_summary(metrics)
        return metrics

    def _shutdown_edge_pool(self) -> None:
        if self._edge_pool is not None:
            self._edge_pool.shutdown()
            self._edge_pool = None

    def _log_summary(self, metrics: dict[str, float]) -> None:
        lines = []
        for task in self.tasks:
            spec = TASK_SPECS[task]
            values = ', '.join(f'{n} {metrics[f"{task}/{n}"]:.4f}' for n in spec.metric_names)
            # The key prefix, and the spec's title where it says more (sal -> saliency).
            name = task if spec.title in (task, task.replace('_', ' ')) else \
                f'{task} ({spec.title})'
            lines.append(f'{name}: {values}')
        if 'multitask/delta_m' in metrics:
            lines.append(f'multitask: delta_m {metrics["multitask/delta_m"]:+.2f}%')
        print_log('\n'.join(lines), logger='current')

    # ------------------------------------------------------------------------------ helpers
    def _dataset_class_names(self, task: str) -> Sequence[str] | None:
        return (self.dataset_meta or {}).get(metainfo_key(task, 'classes'))

    def _boundary_tolerance(self, task: str) -> float:
        key = metainfo_key(task, 'tolerance')
        value = (self.dataset_meta or {}).get(key)
        if value is None:
            raise ValueError(f'MultiTaskMetric: the boundary tolerance of {task!r} is unknown: '
                             f'the dataset metainfo has no {key!r} (the matching distance as '
                             'a fraction of the image diagonal, e.g. 0.011 for NYUD-v2); set '
                             f'metainfo=dict({key}=...) in the dataset config')
        if not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f'MultiTaskMetric: dataset metainfo {key} must be a number > 0, '
                             f'got {value!r}')
        return float(value)

    def _num_classes(self, task: str) -> int:
        if task in self.num_classes:
            return self.num_classes[task]
        names = self.class_names.get(task) or self._dataset_class_names(task)
        if not names:
            raise ValueError(f'MultiTaskMetric: number of classes of {task!r} unknown; set '
                             f'num_classes={{{task!r}: N}} in the metric config or give the '
                             f'dataset metainfo {metainfo_key(task, "classes")}')
        return len(names)

    def _class_names(self, task: str) -> list[str]:
        n = self._num_classes(task)
        names = self.class_names.get(task) or self._dataset_class_names(task)
        if names is None or len(names) != n:
            names = [str(i) for i in range(n)]
        return list(names)


def _pixel_data(sample: Any, key: str) -> torch.Tensor:
    """``sample[key]`` as a tensor, for dict samples (mmengine's Evaluator) and data elements."""
    if isinstance(sample, BaseDataElement):
        value = sample.get(key, None)
    elif isinstance(sample, Mapping):
        value = sample.get(key)
    else:
        raise TypeError(f'MultiTaskMetric: data samples must be dicts or MultiTaskDataSample, '
                        f'got {type(sample).__name__}')
    if value is None:
        raise KeyError(f'MultiTaskMetric: data sample has no {key!r}; the model must set '
                       f'pred_<task> and the dataset gt_<task> for every evaluated task')
    if isinstance(value, PixelData):
        value = value.data
    elif isinstance(value, Mapping):
        value = value.get('data')
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(np.asarray(value))
    return value


def _as_chw(value: torch.Tensor, task: str, kind: str) -> torch.Tensor:
    if value.dim() == 2:
        return value[None]
    if value.dim() != 3:
        raise ValueError(f'MultiTaskMetric: {kind}_{task} must be (C, H, W) or (H, W), got '
                         f'shape {tuple(value.shape)}')
    return value
