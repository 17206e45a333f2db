"""Visualizer drawing every task of a multi-task dense prediction in one labelled grid."""
from __future__ import annotations

from collections.abc import Sequence

import mmcv
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.structures import PixelData
from mmengine.visualization import Visualizer

from mmdense.registry import VISUALIZERS
from mmdense.structures import TASK_SPECS, MultiTaskDataSample, metainfo_key

#: Colour of ignored / padded pixels in the ground truth.
IGNORE_COLOR = (40, 40, 60)


def _generated_palette(num_classes: int) -> np.ndarray:
    """A fixed palette for classes the dataset gives no colour to (as mmseg does)."""
    state = np.random.get_state()
    np.random.seed(42)
    palette = np.random.randint(0, 255, size=(num_classes, 3))
    np.random.set_state(state)
    return palette.astype(np.uint8)


def _to_numpy(data) -> np.ndarray:
    if isinstance(data, PixelData):
        data = data.data
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().float().numpy() if data.is_floating_point() \
            else data.detach().cpu().numpy()
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise ValueError(f'expected a (C, H, W) map, got shape {data.shape}')
    return data


@VISUALIZERS.register_module()
class MultiTaskVisualizer(Visualizer):
    """Draw the input image and every task's map of a :class:`MultiTaskDataSample`.

    The figure is a grid: one column for the image and one per task, a row for the ground truth
    (``gt_<task>``) and a row for the prediction (``pred_<task>``), each panel titled with the
    task's ``TaskSpec.title``. Tasks are drawn by their ``TaskSpec.kind``:

    * ``'classes'`` (semseg, human_parts): the dataset palette (``dataset_meta['palette']`` and
      ``['classes']`` for semseg, ``['<task>_palette']`` / ``['<task>_classes']`` otherwise),
      with the names of the largest classes written on them;
    * ``'regression'`` (depth): a colour map over a range shared by both rows (the valid
      ground truth's min/max, or the prediction's 2-98 percentiles), given in the title with
      the spec's ``unit``; invalid values (at or below the ignore value) are dark;
    * ``'unit_vector'`` (normals): ``(n + 1) / 2`` as RGB, ``n`` normalised; zero vectors are
      dark;
    * ``'binary'`` (edge, sal): grey levels of the probability (white = boundary / salient).

    Ignored ground-truth pixels (255, padding) are drawn in a dark blue-grey.

    Args:
        name: instance name.
        image: optional image to set.
        vis_backends: visualisation backends (e.g. ``LocalVisBackend``).
        save_dir: where the backends save.
        tasks: tasks to draw, in this order. Default: ``data_sample.tasks`` (its
            ``metainfo['tasks']``), or else every task with a ``gt_``/``pred_`` field.
        depth_range: fixed ``(min, max)`` of the colour map of regression tasks (depth, in
            metres).
        depth_cmap: matplotlib colour map of regression tasks.
        panel_size: width in pixels of each panel (the height keeps the image's aspect ratio).
        max_labels: at most this many class names written on a segmentation panel.
        alpha: kept for config compatibility with mmseg's visualizer; unused.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: np.ndarray | None = None,
                 vis_backends: list[dict] | None = None,
                 save_dir: str | None = None,
                 tasks: Sequence[str] | None = None,
                 depth_range: tuple[float, float] | None = None,
                 depth_cmap: str = 'turbo',
                 panel_size: int = 256,
                 max_labels: int = 6,
                 alpha: float = 0.8,
                 **kwargs) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends, save_dir=save_dir,
                         **kwargs)
        if tasks is not None:
            unknown = [t for t in tasks if t not in TASK_SPECS]
            if unknown:
                raise ValueError(f'MultiTaskVisualizer: unknown task(s) {unknown}; known tasks '
                                 f'are {list(TASK_SPECS)}')
        self.tasks = None if tasks is None else list(tasks)
        if depth_range is not None and not depth_range[0] < depth_range[1]:
            raise ValueError(f'MultiTaskVisualizer: depth_range must be (min, max) with '
                             f'min < max, got {depth_range}')
        self.depth_range = depth_range
        self.depth_cmap = depth_cmap
        self.panel_size = int(panel_size)
        self.max_labels = int(max_labels)
        self.alpha = alpha

    # ------------------------------------------------------------------------------------------
    # Per-task rendering to RGB uint8 panels
    # ------------------------------------------------------------------------------------------
    def _class_info(self, task: str, num_needed: int) -> tuple[np.ndarray, Sequence[str] | None]:
        meta = self.dataset_meta or {}
        palette = meta.get(metainfo_key(task, 'palette'))
        classes = meta.get(metainfo_key(task, 'classes'))
        num = max(num_needed, len(classes) if classes is not None else 0)
        if palette is None or len(palette) < num:
            generated = _generated_palette(max(num, 1))
            if palette is not None:
                generated[:len(palette)] = np.asarray(palette, np.uint8)
            palette = generated
        return np.asarray(palette, np.uint8), classes

    def _draw_labels(self, task: str, data, is_gt: bool) -> tuple[np.ndarray, list]:
        label = _to_numpy(data)
        if label.shape[0] > 1:  # class scores: draw their argmax
            label = label.argmax(0)
        else:
            label = label[0]
        label = label.astype(np.int64)
        ignore = (label < 0) | (label == int(TASK_SPECS[task].ignore_value))
        valid_labels = label[~ignore]
        num_needed = int(valid_labels.max()) + 1 if valid_labels.size else 1
        palette, classes = self._class_info(task, num_needed)
        rgb = palette[np.where(ignore, 0, label)]
        rgb[ignore] = IGNORE_COLOR
        names = []
        if self.max_labels > 0 and classes is not None and valid_labels.size:
            counts = np.bincount(valid_labels, minlength=len(classes))
            for cls in np.argsort(-counts)[:self.max_labels]:
                if counts[cls] < 0.01 * label.size or cls >= len(classes):
                    break
                names.append((classes[cls], label == cls, palette[cls]))
        return rgb, names

    def _depth_range(self, gt, pred) -> tuple[float, float]:
        if self.depth_range is not None:
            return tuple(self.depth_range)
        if gt is not None:
            values = _to_numpy(gt)[0]
            values = values[values > 0]
            if values.size:
                return float(values.min()), float(max(values.max(), values.min() + 1e-3))
        if pred is not None:
            values = _to_numpy(pred)[0].ravel()
            low, high = np.percentile(values, [2, 98])
            return float(low), float(max(high, low + 1e-3))
        return 0.0, 1.0

    def _draw_depth(self, data, value_range, is_gt: bool,
                    invalid_at_or_below: float = 0.0) -> np.ndarray:
        import matplotlib

        depth = _to_numpy(data)[0].astype(np.float64)
        low, high = value_range
        norm = np.clip((depth - low) / (high - low), 0, 1)
        rgb = (matplotlib.colormaps[self.depth_cmap](norm)[..., :3] * 255).astype(np.uint8)
        if is_gt:
            rgb[depth <= invalid_at_or_below] = IGNORE_COLOR
        return rgb

    @staticmethod
    def _draw_normals(data) -> np.ndarray:
        normals = _to_numpy(data).astype(np.float64)
        if normals.shape[0] != 3:
            raise ValueError(f'normals must have 3 channels, got shape {normals.shape}')
        norm = np.linalg.norm(normals, axis=0)
        unit = normals / np.maximum(norm, 1e-6)
        rgb = np.clip((unit + 1) * 127.5, 0, 255).round().astype(np.uint8).transpose(1, 2, 0)
        rgb[norm < 1e-3] = IGNORE_COLOR
        return rgb

    @staticmethod
    def _draw_prob(task: str, data, is_gt: bool) -> np.ndarray:
        values = _to_numpy(data)
        if values.shape[0] > 1:  # two-class scores: foreground is the last channel
            values = values[-1:]
        values = values[0].astype(np.float64)
        ignore = values == TASK_SPECS[task].ignore_value if is_gt else np.zeros(values.shape,
                                                                                  bool)
        gray = (np.clip(np.where(ignore, 0, values), 0, 1) * 255).round().astype(np.uint8)
        rgb = np.repeat(gray[..., None], 3, axis=2)
        rgb[ignore] = IGNORE_COLOR
        return rgb

    def draw_task(self, task: str, data, is_gt: bool, depth_range=None) -> tuple[np.ndarray,
                                                                                    list]:
        """Render one task's map as an RGB image.

        Args:
            task: task name (a :data:`~mmdense.structures.TASK_SPECS` key).
            data: ``PixelData``, tensor or array of shape ``(C, H, W)`` or ``(H, W)``.
            is_gt: whether ``data`` is ground truth (ignore values are drawn apart).
            depth_range: ``(min, max)`` of the colour map of a regression task (depth).

        Returns:
            tuple: ``(H, W, 3)`` uint8 RGB image and a list of ``(class name, mask, colour)`` to
            write on it (segmentation tasks only).
        """
        if task not in TASK_SPECS:
            raise ValueError(f'unknown task {task!r}; known tasks are {list(TASK_SPECS)}')
        kind = TASK_SPECS[task].kind
        if kind == 'classes':
            return self._draw_labels(task, data, is_gt)
        if kind == 'regression':
            value_range = depth_range or self._depth_range(data, None)
            return self._draw_depth(data, value_range, is_gt,
                                    float(TASK_SPECS[task].ignore_value)), []
        if kind == 'unit_vector':
            return self._draw_normals(data), []
        return self._draw_prob(task, data, is_gt), []

    # ------------------------------------------------------------------------------------------
    def _tasks_of(self, data_sample: MultiTaskDataSample | None) -> list[str]:
        if self.tasks is not None:
            return list(self.tasks)
        if data_sample is None:
            return []
        tasks = list(data_sample.metainfo.get('tasks', []))
        if not tasks:
            keys = set(data_sample.keys())
            tasks = [t for t in TASK_SPECS if f'gt_{t}' in keys or f'pred_{t}' in keys]
        return tasks

    def draw_multitask(self,
                       image: np.ndarray,
                       data_sample: MultiTaskDataSample | None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       with_labels: bool = True) -> np.ndarray:
        """Compose the grid of panels.

        Args:
            image: ``(H, W, 3)`` RGB uint8 input image.
            data_sample: the sample with ``gt_<task>`` and/or ``pred_<task>`` fields.
            draw_gt: draw the ground-truth row (when the sample has ground truth).
            draw_pred: draw the prediction row (when the sample has predictions).
            with_labels: write class names on the segmentation panels.

        Returns:
            np.ndarray: the RGB uint8 figure.
        """
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'image must be (H, W, 3) RGB, got shape {image.shape}')
        image = image.astype(np.uint8)
        height, width = image.shape[:2]
        tasks = self._tasks_of(data_sample)

        rows = []
        for prefix, enabled in (('gt', draw_gt), ('pred', draw_pred)):
            if not enabled or data_sample is None:
                continue
            fields = {t: data_sample.get(f'{prefix}_{t}') for t in tasks}
            if any(v is not None for v in fields.values()):
                rows.append((prefix, fields))

        # One colour-map range per regression task, shared by its ground truth and prediction.
        value_ranges = {}
        if data_sample is not None:
            for task in tasks:
                if task in TASK_SPECS and TASK_SPECS[task].kind == 'regression':
                    value_ranges[task] = self._depth_range(data_sample.get(f'gt_{task}'),
                                                           data_sample.get(f'pred_{task}'))

        panel_w = self.panel_size
        panel_h = max(1, round(panel_w * height / width))
        shown_image = mmcv.imresize(image, (panel_w, panel_h), interpolation='bilinear')
        grid_rows = []
        for prefix, fields in rows or [('', {})]:
            panels = [self._framed(shown_image, 'image')]
            for task in (tasks if rows else []):
                spec = TASK_SPECS.get(task)
                title = spec.title if spec is not None else task
                value_range = value_ranges.get(task)
                if value_range is not None:
                    title += f' {value_range[0]:.3g}-{value_range[1]:.3g}'
                    if spec.unit:
                        title += f' {spec.unit}'
                data = fields.get(task)
                if data is None:
                    panel = np.full((panel_h, panel_w, 3), 235, np.uint8)
                    self._put_text(panel, 'n/a', (panel_w // 2, panel_h // 2), 0.5)
                    panels.append(self._framed(panel, title))
                    continue
                rgb, names = self.draw_task(task, data, prefix == 'gt', value_range)
                panel = mmcv.imresize(rgb, (panel_w, panel_h), interpolation='nearest')
                if with_labels:
                    for name, mask, color in names:
                        mask = mmcv.imresize(mask.astype(np.uint8), (panel_w, panel_h),
                                             interpolation='nearest')
                        self._label_region(panel, name, mask, color)
                panels.append(self._framed(panel, title))
            row = np.concatenate(panels, axis=1)
            label = {'gt': 'ground truth', 'pred': 'prediction'}.get(prefix, '')
            grid_rows.append(np.concatenate([self._side_label(label, row.shape[0]), row], 1))
        return np.concatenate(grid_rows, axis=0)

    # Layout constants of the grid, in pixels.
    _TITLE_H = 22
    _GAP = 4
    _SIDE_W = 22

    def _framed(self, panel: np.ndarray, title: str) -> np.ndarray:
        """The panel with a white title strip above it and a gap on its right and below."""
        h, w = panel.shape[:2]
        out = np.full((self._TITLE_H + h + self._GAP, w + self._GAP, 3), 255, np.uint8)
        out[self._TITLE_H:self._TITLE_H + h, :w] = panel
        self._put_text(out, title, (w // 2, self._TITLE_H // 2), 0.42, max_width=w - 4)
        return out

    def _side_label(self, text: str, height: int) -> np.ndarray:
        strip = np.full((self._SIDE_W, height, 3), 255, np.uint8)  # drawn sideways, rotated
        if text:
            center = (self._TITLE_H + (height - self._TITLE_H) // 2, self._SIDE_W // 2)
            self._put_text(strip, text, (height - center[0], center[1]), 0.42)
        return np.ascontiguousarray(np.rot90(strip))

    @staticmethod
    def _put_text(img: np.ndarray, text: str, center: tuple[int, int], scale: float,
                  color=(0, 0, 0), background=None, max_width: int | None = None) -> None:
        import cv2

        font = cv2.FONT_HERSHEY_SIMPLEX
        (tw, th), base = cv2.getTextSize(text, font, scale, 1)
        if max_width is not None and tw > max_width:
            scale *= max_width / tw
            (tw, th), base = cv2.getTextSize(text, font, scale, 1)
        x, y = int(center[0] - tw / 2), int(center[1] + th / 2)
        if background is not None:
            cv2.rectangle(img, (x - 2, y - th - 2), (x + tw + 2, y + base),
                          tuple(int(c) for c in background), thickness=-1)
        cv2.putText(img, text, (x, y), font, scale, color, 1, cv2.LINE_AA)

    def _label_region(self, panel: np.ndarray, name: str, mask: np.ndarray, color) -> None:
        import cv2

        # The point deepest inside the region keeps the text on it, even for odd shapes.
        dist = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 3)
        y, x = np.unravel_index(int(dist.argmax()), dist.shape)
        color = np.asarray(color, np.float64)
        text_color = (0, 0, 0) if color @ [0.299, 0.587, 0.114] > 128 else (255, 255, 255)
        self._put_text(panel, name, (x - 1, y - 1), 0.35, color=text_color,
                       background=color)

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: MultiTaskDataSample | None = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: str | None = None,
                       step: int = 0,
                       with_labels: bool = True) -> None:
        """Draw a sample and show it, save it to ``out_file`` or record it in the backends.

        The signature is that of mmseg's ``SegLocalVisualizer.add_datasample``, so the
        visualisation hooks and tools written for it work with this visualizer.

        Args:
            name: the image identifier (window title, backend key).
            image: ``(H, W, 3)`` RGB uint8 image.
            data_sample: sample with ``gt_<task>`` and/or ``pred_<task>`` fields.
            draw_gt: draw the ground-truth row.
            draw_pred: draw the prediction row.
            show: display the figure.
            wait_time: seconds to show it (0: until a key is pressed).
            out_file: write the figure to this file instead of the backends.
            step: global step recorded by the backends.
            with_labels: write class names on the segmentation panels.
        """
        drawn = self.draw_multitask(image, data_sample, draw_gt, draw_pred, with_labels)
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)
