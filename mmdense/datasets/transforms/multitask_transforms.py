"""Joint geometric augmentation of an image and its per-task dense labels.

Every transform here processes ``results['img']`` and each key of ``results['task_fields']``
(``gt_<task>``, see :class:`~mmdense.datasets.transforms.LoadMultiTaskAnnotations`), using
:data:`~mmdense.structures.TASK_SPECS` for what depends on the task: discrete labels are always
resized with nearest neighbour, padding uses the task's ignore value, flipping applies the
task's ``flip_signs`` (the x component of surface normals changes sign) and zooming divides
the values of ``divide_by_zoom`` tasks (depth) when asked to. Sizes given as pairs are
``(height, width)`` except the ``scale`` of the resize transforms, which follows mmcv's
``Resize`` (``(width, height)``).

Photometric augmentation of the image alone reuses mmseg's ``PhotoMetricDistortion``, which
reads and writes only ``results['img']``.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmdense.registry import TRANSFORMS
from mmdense.structures import TASK_SPECS, TaskSpec

_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


def _label_fields(results: dict) -> Iterator[tuple[str, str, TaskSpec]]:
    """Yield ``(key, task, spec)`` for every label of ``results['task_fields']``."""
    for key in results.get('task_fields', []):
        task = key[3:] if key.startswith('gt_') else key
        if task not in TASK_SPECS:
            raise KeyError(f'results["task_fields"] has {key!r}, whose task {task!r} is not in '
                           f'TASK_SPECS ({list(TASK_SPECS)})')
        yield key, task, TASK_SPECS[task]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, int):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) <= 0:
        raise ValueError(f'{name} must be a positive int or a pair of them, got {value}')
    return value


def _check_interpolation(value: str, name: str) -> str:
    if value not in _INTERPOLATIONS:
        raise ValueError(f'{name} must be one of {_INTERPOLATIONS}, got {value!r}')
    return value


def resize_multitask(results: dict, new_hw: tuple[int, int], interpolation: str = 'bilinear',
                     continuous_interpolation: str = 'nearest',
                     depth_divisor: float | None = None) -> dict:
    """Resize the image and every label of ``results`` to ``new_hw`` (in place).

    Args:
        results: the result dict.
        new_hw: target ``(height, width)``.
        interpolation: for the image.
        continuous_interpolation: for the continuous labels (depth, normals); discrete labels
            always use nearest neighbour.
        depth_divisor: when given, the values of the tasks whose spec has ``divide_by_zoom``
            (depth: zoom-in brings the scene closer) are divided by it; invalid depth (0)
            stays 0.

    Returns:
        dict: ``results`` with ``img_shape``, ``scale`` and ``scale_factor`` updated.
    """
    new_h, new_w = (max(int(v), 1) for v in new_hw)
    img = results['img']
    h, w = img.shape[:2]
    results['img'] = mmcv.imresize(img, (new_w, new_h), interpolation=interpolation)
    for key, _, spec in _label_fields(results):
        mode = 'nearest' if spec.discrete else continuous_interpolation
        label = mmcv.imresize(results[key], (new_w, new_h), interpolation=mode)
        if spec.divide_by_zoom and depth_divisor is not None:
            label = label / np.float32(depth_divisor)
        results[key] = label.astype(results[key].dtype, copy=False)
    results['img_shape'] = (new_h, new_w)
    results['scale'] = (new_w, new_h)
    results['scale_factor'] = (new_w / w, new_h / h)
    return results


@TRANSFORMS.register_module()
class MultiTaskResize(BaseTransform):
    """Resize the image and its labels to a fixed scale or by a fixed factor.

    Discrete labels use nearest neighbour; depth and normals use ``continuous_interpolation``
    (nearest by default, as the official DeMT code, so that no invalid pixel is blended into a
    valid one). Depth values are unchanged unless ``rescale_depth``.

    Required keys: ``img``, ``task_fields`` and its ``gt_<task>`` keys.
    Modified keys: ``img``, ``gt_<task>``, ``img_shape``.
    Added keys: ``scale`` ((w, h)), ``scale_factor`` ((w_ratio, h_ratio)), ``keep_ratio``.

    Args:
        scale: target ``(w, h)`` (with ``keep_ratio``: the image is rescaled to fit the long
            edge in ``max(scale)`` and the short edge in ``min(scale)``, as mmcv's ``Resize``),
            or an int for a square scale.
        scale_factor: ratio(s) of the input size, a float or ``(w_ratio, h_ratio)``; exclusive
            with ``scale``.
        keep_ratio: keep the aspect ratio when ``scale`` is given.
        interpolation: image interpolation.
        continuous_interpolation: interpolation of depth and normals.
        rescale_depth: divide depth by the (geometric mean) scale factor, as the official DeMT
            ``RandomScaling`` does. Off by default: depth is a metric quantity of the scene.
    """

    def __init__(self,
                 scale: int | Sequence[int] | None = None,
                 scale_factor: float | Sequence[float] | None = None,
                 keep_ratio: bool = True,
                 interpolation: str = 'bilinear',
                 continuous_interpolation: str = 'nearest',
                 rescale_depth: bool = False) -> None:
        if (scale is None) == (scale_factor is None):
            raise ValueError('MultiTaskResize needs exactly one of scale and scale_factor')
        self.scale = None if scale is None else _pair(scale, 'scale')
        if scale_factor is not None:
            factors = (scale_factor, scale_factor) if isinstance(scale_factor, (int, float)) \
                else tuple(scale_factor)
            if len(factors) != 2 or min(factors) <= 0:
                raise ValueError(f'scale_factor must be positive, got {scale_factor}')
            scale_factor = tuple(float(f) for f in factors)
        self.scale_factor = scale_factor
        self.keep_ratio = keep_ratio
        self.interpolation = _check_interpolation(interpolation, 'interpolation')
        self.continuous_interpolation = _check_interpolation(continuous_interpolation,
                                                             'continuous_interpolation')
        self.rescale_depth = rescale_depth

    def _target_hw(self, h: int, w: int) -> tuple[int, int]:
        if self.scale is not None:
            if self.keep_ratio:
                new_w, new_h = mmcv.rescale_size((w, h), self.scale)
            else:
                new_w, new_h = self.scale
        else:
            fw, fh = self.scale_factor
            new_w, new_h = int(w * fw + 0.5), int(h * fh + 0.5)
        return new_h, new_w

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        new_h, new_w = self._target_hw(h, w)
        divisor = math.sqrt(new_h / h * new_w / w) if self.rescale_depth else None
        resize_multitask(results, (new_h, new_w), self.interpolation,
                         self.continuous_interpolation, divisor)
        results['keep_ratio'] = self.keep_ratio
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, scale_factor={self.scale_factor}, '
                f'keep_ratio={self.keep_ratio}, interpolation={self.interpolation}, '
                f'continuous_interpolation={self.continuous_interpolation}, '
                f'rescale_depth={self.rescale_depth})')


@TRANSFORMS.register_module()
class MultiTaskRandomResize(BaseTransform):
    """Resize the image and its labels by a random ratio or to a random scale.

    Exactly one of ``ratio_range`` and ``scales``:

    * ``ratio_range=(lo, hi)``: a ratio ``r ~ U(lo, hi)``. Without ``scale`` the image's own
      size is multiplied by ``r`` and floored (the official DeMT ``RandomScaling(0.5, 2.0)``);
      with ``scale`` (``(w, h)``) the target scale is ``r * scale``, as mmseg's
      ``RandomResize``.
    * ``scales=[...]``: one item drawn uniformly; a float is a ratio of the image's own size
      (the official ``discrete=True`` mode), a ``(w, h)`` pair a target scale.

    Labels are resized as in :class:`MultiTaskResize`; depth values are unchanged unless
    ``rescale_depth`` (then divided by the ratio, as the official code does).

    Args:
        scale: base ``(w, h)`` for ``ratio_range``; ``None`` uses the image's own size.
        ratio_range: ``(lo, hi)`` range of the random ratio.
        scales: list of ratios or ``(w, h)`` scales.
        keep_ratio: keep the aspect ratio when resizing to a scale.
        interpolation, continuous_interpolation, rescale_depth: see :class:`MultiTaskResize`.
    """

    def __init__(self,
                 scale: int | Sequence[int] | None = None,
                 ratio_range: Sequence[float] | None = None,
                 scales: Sequence | None = None,
                 keep_ratio: bool = True,
                 interpolation: str = 'bilinear',
                 continuous_interpolation: str = 'nearest',
                 rescale_depth: bool = False) -> None:
        if (ratio_range is None) == (scales is None):
            raise ValueError('MultiTaskRandomResize needs exactly one of ratio_range and scales')
        if ratio_range is not None:
            ratio_range = tuple(float(r) for r in ratio_range)
            if len(ratio_range) != 2 or not 0 < ratio_range[0] <= ratio_range[1]:
                raise ValueError(f'ratio_range must be (lo, hi) with 0 < lo <= hi, got '
                                 f'{ratio_range}')
        if scales is not None:
            if len(scales) == 0:
                raise ValueError('scales must not be empty')
            scales = [float(s) if isinstance(s, (int, float)) else _pair(s, 'scales item')
                      for s in scales]
            if any(isinstance(s, float) and s <= 0 for s in scales):
                raise ValueError(f'ratios in scales must be positive, got {scales}')
        self.scale = None if scale is None else _pair(scale, 'scale')
        self.ratio_range = ratio_range
        self.scales = scales
        self.keep_ratio = keep_ratio
        self.interpolation = _check_interpolation(interpolation, 'interpolation')
        self.continuous_interpolation = _check_interpolation(continuous_interpolation,
                                                             'continuous_interpolation')
        self.rescale_depth = rescale_depth

    @cache_randomness
    def _random_choice(self) -> tuple[float | None, tuple[int, int] | None]:
        """Return ``(ratio of the own size, None)`` or ``(ratio or None, target (w, h))``."""
        if self.ratio_range is not None:
            ratio = float(np.random.uniform(*self.ratio_range))
            if self.scale is None:
                return ratio, None
            return ratio, (int(self.scale[0] * ratio), int(self.scale[1] * ratio))
        choice = self.scales[np.random.randint(len(self.scales))]
        if isinstance(choice, float):
            return choice, None
        return None, choice

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        ratio, target = self._random_choice()
        if target is None:
            new_h, new_w = int(h * ratio), int(w * ratio)
        elif self.keep_ratio:
            new_w, new_h = mmcv.rescale_size((w, h), target)
        else:
            new_w, new_h = target
        divisor = None
        if self.rescale_depth:
            divisor = ratio if target is None else math.sqrt(new_h / h * new_w / w)
        resize_multitask(results, (new_h, new_w), self.interpolation,
                         self.continuous_interpolation, divisor)
        results['keep_ratio'] = self.keep_ratio
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, ratio_range={self.ratio_range}, '
                f'scales={self.scales}, keep_ratio={self.keep_ratio}, '
                f'interpolation={self.interpolation}, '
                f'continuous_interpolation={self.continuous_interpolation}, '
                f'rescale_depth={self.rescale_depth})')


@TRANSFORMS.register_module()
class MultiTaskRandomCrop(BaseTransform):
    """Crop the image and its labels at one random location.

    An image smaller than ``crop_size`` is cropped to its own size along that side (pad it
    afterwards with :class:`MultiTaskPad`). With ``cat_max_ratio < 1`` the location is drawn
    again, up to 10 times, until the cropped ``gt_<seg_task>`` has more than one class and no
    class covers ``cat_max_ratio`` or more of its labelled pixels (mmseg's ``RandomCrop`` and
    the official DeMT rule). Without that label the constraint is skipped.

    Required keys: ``img``, ``task_fields`` and its ``gt_<task>`` keys.
    Modified keys: ``img``, ``gt_<task>``, ``img_shape``.

    Args:
        crop_size: ``(h, w)`` or an int.
        cat_max_ratio: maximum ratio of one category in the crop.
        ignore_index: label ignored when counting categories.
        seg_task: task whose labels the category ratio is measured on.
    """

    def __init__(self, crop_size: int | Sequence[int], cat_max_ratio: float = 1.,
                 ignore_index: int = 255, seg_task: str = 'semseg') -> None:
        self.crop_size = _pair(crop_size, 'crop_size')
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(f'cat_max_ratio must be in (0, 1], got {cat_max_ratio}')
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index
        self.seg_task = seg_task

    def _random_bbox(self, img: np.ndarray) -> tuple[int, int, int, int]:
        margin_h = max(img.shape[0] - self.crop_size[0], 0)
        margin_w = max(img.shape[1] - self.crop_size[1], 0)
        top = np.random.randint(0, margin_h + 1)
        left = np.random.randint(0, margin_w + 1)
        return top, top + self.crop_size[0], left, left + self.crop_size[1]

    @staticmethod
    def _crop(arr: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
        y1, y2, x1, x2 = bbox
        return arr[y1:y2, x1:x2, ...]

    @cache_randomness
    def crop_bbox(self, results: dict) -> tuple[int, int, int, int]:
        """Draw the crop box ``(y1, y2, x1, x2)``, honouring ``cat_max_ratio``."""
        bbox = self._random_bbox(results['img'])
        seg = results.get(f'gt_{self.seg_task}')
        if self.cat_max_ratio < 1. and seg is not None:
            for _ in range(10):
                labels, counts = np.unique(self._crop(seg, bbox), return_counts=True)
                counts = counts[labels != self.ignore_index]
                if len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio:
                    break
                bbox = self._random_bbox(results['img'])
        return bbox

    def transform(self, results: dict) -> dict:
        bbox = self.crop_bbox(results)
        results['img'] = self._crop(results['img'], bbox)
        for key, _, _ in _label_fields(results):
            results[key] = self._crop(results[key], bbox)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'cat_max_ratio={self.cat_max_ratio}, ignore_index={self.ignore_index}, '
                f'seg_task={self.seg_task!r})')


@TRANSFORMS.register_module()
class MultiTaskRandomFlip(BaseTransform):
    """Horizontally flip the image and its labels with probability ``prob``.

    Each label is then multiplied by its task's ``TaskSpec.flip_sign('horizontal')`` (the x
    component of surface normals changes sign, as in the official code).

    Required keys: ``img``, ``task_fields`` and its ``gt_<task>`` keys.
    Modified keys: ``img``, ``gt_<task>``.
    Added keys: ``flip`` (bool), ``flip_direction`` (``'horizontal'`` or None).

    Args:
        prob: flip probability.
        direction: only ``'horizontal'`` (normals have no agreed vertical sign convention in
            these datasets).
    """

    def __init__(self, prob: float = 0.5, direction: str = 'horizontal') -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if direction != 'horizontal':
            raise ValueError(f'MultiTaskRandomFlip supports only direction="horizontal", got '
                             f'{direction!r}')
        self.prob = prob
        self.direction = direction

    @cache_randomness
    def _do_flip(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        flip = self._do_flip()
        results['flip'] = flip
        results['flip_direction'] = self.direction if flip else None
        if not flip:
            return results
        results['img'] = mmcv.imflip(results['img'], direction='horizontal')
        for key, _, spec in _label_fields(results):
            label = np.ascontiguousarray(results[key][:, ::-1, ...])
            sign = spec.flip_sign('horizontal')
            if sign is not None:
                label = (label * np.asarray(sign, label.dtype)).astype(label.dtype, copy=False)
            results[key] = label
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob}, direction={self.direction!r})'


@TRANSFORMS.register_module()
class MultiTaskPad(BaseTransform):
    """Pad the image and its labels to at least ``size`` and/or to a multiple of a divisor.

    Labels are padded with their task's ``TASK_SPECS`` ignore value (255 for discrete tasks,
    0 for depth, the zero vector for normals), so padded pixels never count in a loss or metric.
    A side already larger than ``size`` is kept (never cropped).

    Required keys: ``img``, ``task_fields`` and its ``gt_<task>`` keys.
    Modified keys: ``img``, ``gt_<task>``.
    Added keys: ``pad_shape`` ((h, w) after padding), ``padding_size`` ((left, right, top,
    bottom), mmseg's order, added to an earlier ``padding_size``; the data preprocessor adds its
    batch padding and the segmentor crops it all away), ``pad_fixed_size``, ``pad_size_divisor``.

    Args:
        size: minimum ``(h, w)`` (note: mmcv's ``Pad`` takes ``(w, h)``) or an int.
        size_divisor: pad each side to a multiple of it (after ``size``).
        img_pad_val: image pad value, a number or one per channel. This pads the raw image
            (0 is black); the official DeMT ``PadImage`` pads the *normalised* image with 0, the
            mean colour: the DeMT configs therefore pad in the data preprocessor
            (``MultiTaskDataPreProcessor(size=crop, pad_mode='center')``) instead.
        center: split the padding evenly on both sides (the official ``PadImage``); otherwise
            pad only at the bottom and right (mmseg's convention).
    """

    def __init__(self,
                 size: int | Sequence[int] | None = None,
                 size_divisor: int | None = None,
                 img_pad_val: float | Sequence[float] = 0,
                 center: bool = False) -> None:
        if size is None and size_divisor is None:
            raise ValueError('MultiTaskPad needs size, size_divisor or both')
        self.size = None if size is None else _pair(size, 'size')
        if size_divisor is not None and size_divisor <= 0:
            raise ValueError(f'size_divisor must be positive, got {size_divisor}')
        self.size_divisor = size_divisor
        self.img_pad_val = img_pad_val
        self.center = center

    def _padding(self, h: int, w: int) -> tuple[int, int, int, int]:
        target_h, target_w = h, w
        if self.size is not None:
            target_h, target_w = max(h, self.size[0]), max(w, self.size[1])
        if self.size_divisor is not None:
            d = self.size_divisor
            target_h, target_w = math.ceil(target_h / d) * d, math.ceil(target_w / d) * d
        pad_h, pad_w = target_h - h, target_w - w
        top, left = (pad_h // 2, pad_w // 2) if self.center else (0, 0)
        return left, top, pad_w - left, pad_h - top

    def transform(self, results: dict) -> dict:
        img = results['img']
        left, top, right, bottom = self._padding(*img.shape[:2])
        if left or top or right or bottom:
            pad_val = self.img_pad_val
            if not isinstance(pad_val, (int, float)):
                pad_val = tuple(pad_val)
            results['img'] = mmcv.impad(img, padding=(left, top, right, bottom),
                                        pad_val=pad_val)
            for key, _, spec in _label_fields(results):
                label = results[key]
                widths = ((top, bottom), (left, right)) + ((0, 0), ) * (label.ndim - 2)
                results[key] = np.pad(label, widths, mode='constant',
                                      constant_values=spec.ignore_value)
        results['pad_shape'] = results['img'].shape[:2]
        earlier = results.get('padding_size', (0, 0, 0, 0))
        results['padding_size'] = tuple(
            int(a) + b for a, b in zip(earlier, (left, right, top, bottom)))
        results['pad_fixed_size'] = self.size
        results['pad_size_divisor'] = self.size_divisor
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, size_divisor={self.size_divisor}, '
                f'img_pad_val={self.img_pad_val}, center={self.center})')


@TRANSFORMS.register_module()
class IgnoreEmptyHumanParts(BaseTransform):
    """Ignore the whole human-parts map when it shows no part (only background / ignore).

    The official PASCAL-Context pipeline applies this rule after cropping and padding, so a
    crop that misses every person is ignored for the human-parts task instead of teaching
    "all background". The dataset already applies it to whole images.

    Modified keys: ``gt_human_parts`` (if present).

    Args:
        ignore_index: the ignore value.
    """

    def __init__(self, ignore_index: int = 255) -> None:
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        parts = results.get('gt_human_parts')
        if parts is not None and not ((parts != 0) & (parts != self.ignore_index)).any():
            results['gt_human_parts'] = np.full_like(parts, self.ignore_index)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(ignore_index={self.ignore_index})'
