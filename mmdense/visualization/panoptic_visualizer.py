"""Visualizer for panoptic segmentation (ground truth and predictions side by side)."""
from collections.abc import Sequence

import mmcv
import numpy as np
import torch
from mmseg.visualization import SegLocalVisualizer

from mmdense.registry import VISUALIZERS
from mmdense.structures.panoptic import INSTANCE_OFFSET


def _jitter(color: Sequence[int], seed: int) -> np.ndarray:
    """Shift a class colour per instance so that neighbouring instances stay distinguishable."""
    rng = np.random.RandomState(seed)
    return np.clip(np.asarray(color, dtype=np.float64) + rng.randint(-60, 61, 3), 0, 255)


def _segments_from_prediction(panoptic: np.ndarray,
                              num_classes: int) -> list[tuple[np.ndarray, int, int]]:
    """(mask, label, instance id) of every segment of a ``label + id * INSTANCE_OFFSET`` map."""
    segments = []
    for value in np.unique(panoptic):
        label = int(value % INSTANCE_OFFSET)
        if label >= num_classes:
            continue
        segments.append((panoptic == value, label, int(value // INSTANCE_OFFSET)))
    return segments


def _segments_from_ground_truth(ids: np.ndarray,
                                segments_info: Sequence[dict]) -> list[tuple[np.ndarray, int, int]]:
    """(mask, label, instance id) of the ground-truth segments (crowd regions included)."""
    segments = []
    for k, seg in enumerate(segments_info):
        mask = ids == seg['id']
        if mask.any():
            segments.append((mask, int(seg['category']), k + 1 if seg.get('is_thing') else 0))
    return segments


@VISUALIZERS.register_module()
class PanopticLocalVisualizer(SegLocalVisualizer):
    """Draw panoptic segmentation: stuff in its class colour, every thing instance in a
    jittered class colour, segment boundaries and (optionally) class names.

    Samples without panoptic fields are drawn as semantic segmentation by
    :class:`SegLocalVisualizer`. Ground truth (``gt_panoptic_seg`` + ``segments_info``) is on
    the left, the prediction (``pred_panoptic_seg``) on the right.

    Args:
        name: instance name (mmengine's ManagerMixin).
        alpha: opacity of the segment colours.
        **kwargs: see :class:`mmseg.visualization.SegLocalVisualizer`.
    """

    def __init__(self, name: str = 'visualizer', alpha: float = 0.6, **kwargs) -> None:
        super().__init__(name=name, alpha=alpha, **kwargs)

    def _palette(self, num_classes: int) -> np.ndarray:
        palette = (self.dataset_meta or {}).get('palette')
        if palette is None or len(palette) < num_classes:
            rng = np.random.RandomState(42)
            palette = rng.randint(0, 256, (num_classes, 3))
        return np.asarray(palette, dtype=np.float64)

    def draw_panoptic(self, image: np.ndarray, segments: list[tuple[np.ndarray, int, int]],
                      classes: Sequence[str], with_labels: bool = True) -> np.ndarray:
        """Paint ``segments`` (mask, label, instance id) over the RGB ``image``."""
        palette = self._palette(len(classes))
        out = image.astype(np.float64).copy()
        boundary = np.zeros(image.shape[:2], dtype=bool)
        for mask, label, inst in segments:
            color = palette[label] if inst == 0 else _jitter(palette[label], label * 997 + inst)
            out[mask] = out[mask] * (1 - self.alpha) + color * self.alpha
            edge = np.zeros_like(mask)
            edge[:-1] |= mask[:-1] != mask[1:]
            edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
            boundary |= edge & mask
        out[boundary] = 255
        out = out.astype(np.uint8)
        if with_labels and segments:
            self.set_image(out)
            for mask, label, _ in segments:
                ys, xs = np.nonzero(mask)
                if len(ys) < 16:
                    continue
                y, x = int(np.median(ys)), int(np.median(xs))
                self.draw_texts(classes[label], np.array([x, y]), colors='white',
                                font_sizes=max(8, min(image.shape[:2]) // 40),
                                horizontal_alignments='center',
                                bboxes=[dict(facecolor='black', alpha=0.5, pad=0.5,
                                             edgecolor='none')])
            out = self.get_image()
        return out

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: str | None = None,
                       step: int = 0,
                       with_labels: bool | None = True) -> None:
        """Draw a sample and save it to the backends (or ``out_file``), see
        :meth:`SegLocalVisualizer.add_datasample`."""
        if data_sample is None or not ('pred_panoptic_seg' in data_sample
                                       or 'gt_panoptic_seg' in data_sample):
            return super().add_datasample(name, image, data_sample, draw_gt, draw_pred, show,
                                          wait_time, out_file, step, with_labels)
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            raise ValueError('the visualizer needs dataset_meta["classes"] to draw panoptic '
                             'segmentation')
        panels = []
        if draw_gt and 'gt_panoptic_seg' in data_sample:
            ids = data_sample.gt_panoptic_seg.sem_seg
            ids = ids.cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
            ids = ids[0] if ids.ndim == 3 else ids
            segments = _segments_from_ground_truth(ids, data_sample.metainfo.get(
                'segments_info', []))
            gt_image = image if image.shape[:2] == ids.shape else mmcv.imresize(
                image, ids.shape[::-1])
            panels.append(self.draw_panoptic(gt_image, segments, classes, with_labels))
        if draw_pred and 'pred_panoptic_seg' in data_sample:
            pred = data_sample.pred_panoptic_seg.sem_seg
            pred = pred.cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred)
            pred = pred[0] if pred.ndim == 3 else pred
            pred_image = image if image.shape[:2] == pred.shape else mmcv.imresize(
                image, pred.shape[::-1])
            panels.append(self.draw_panoptic(
                pred_image, _segments_from_prediction(pred, len(classes)), classes, with_labels))
        if not panels:
            return
        drawn = panels[0] if len(panels) == 1 else np.concatenate(
            [p if p.shape[0] == panels[0].shape[0] else mmcv.imresize(
                p, (int(p.shape[1] * panels[0].shape[0] / p.shape[0]), panels[0].shape[0]))
             for p in panels], axis=1)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)
