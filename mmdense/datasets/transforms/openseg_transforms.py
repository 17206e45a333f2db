"""Training augmentations of openseg (``lib/datasets/tools/cv2_aug_transforms.py`` and
``lib/datasets/tools/collate.py`` of openseg.pytorch), used by the official HRFormer segmentation
recipes, for mmseg pipelines (``img`` and ``gt_seg_map``).

mmseg has no equivalent of these three: its ``RandomResize`` keeps the aspect ratio and resizes
bilinearly, its ``PhotoMetricDistortion`` also changes contrast, saturation and hue, and its data
preprocessor pads at the bottom right.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmdense.registry import TRANSFORMS

_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


def _range(value: Sequence[float], name: str, cls: str) -> tuple[float, float]:
    value = tuple(float(v) for v in value)
    if len(value) != 2 or not 0 < value[0] <= value[1]:
        raise ValueError(f'{cls}: {name} must be (low, high) with 0 < low <= high, got {value}.')
    return value


def _seg_keys(results: dict) -> list[str]:
    return list(results.get('seg_fields', [])) or (['gt_seg_map'] if 'gt_seg_map' in results
                                                   else [])


@TRANSFORMS.register_module()
class RandomScaleAspectResize(BaseTransform):
    """Resize by a random scale and aspect ratio, as openseg's ``RandomResize``.

    With ``s ~ U(scale_range)`` and ``a ~ U(aspect_range)``, an ``h x w`` image becomes
    ``int(h * s / sqrt(a)) x int(w * s * sqrt(a))`` (truncated, as the official code). The image
    is resized with ``interpolation`` (openseg: bicubic), the segmentation maps with nearest
    neighbour.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``, ``gt_seg_map`` (and the other
    ``seg_fields``). Added keys: ``scale``, ``scale_factor``.

    Args:
        scale_range: range of the scale ``s``. Default: (0.5, 2.0).
        aspect_range: range of the aspect ratio ``a`` (width over height change).
            Default: (0.9, 1.1).
        interpolation: interpolation of the image. Default: 'bicubic'.
        prob: probability of resizing at all (openseg's ``ratio``). Default: 1.0.
    """

    def __init__(self, scale_range: Sequence[float] = (0.5, 2.0),
                 aspect_range: Sequence[float] = (0.9, 1.1), interpolation: str = 'bicubic',
                 prob: float = 1.0) -> None:
        name = type(self).__name__
        self.scale_range = _range(scale_range, 'scale_range', name)
        self.aspect_range = _range(aspect_range, 'aspect_range', name)
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'{name}: interpolation must be one of {_INTERPOLATIONS}, got '
                             f'{interpolation!r}.')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'{name}: prob must be in [0, 1], got {prob}.')
        self.interpolation = interpolation
        self.prob = prob

    @cache_randomness
    def _sample(self) -> tuple[float, float]:
        """Return the (width, height) scale factors."""
        if np.random.rand() >= self.prob:
            return 1.0, 1.0
        scale = np.random.uniform(*self.scale_range)
        aspect = np.random.uniform(*self.aspect_range)
        return math.sqrt(aspect) * scale, math.sqrt(1.0 / aspect) * scale

    def transform(self, results: dict) -> dict:
        """Resize ``results`` in place and return it."""
        w_scale, h_scale = self._sample()
        h, w = results['img'].shape[:2]
        size = (int(w * w_scale), int(h * h_scale))
        if min(size) < 1:
            raise ValueError(f'{type(self).__name__}: an image of {w}x{h} would shrink to '
                             f'{size[0]}x{size[1]}.')
        results['img'] = mmcv.imresize(results['img'], size, interpolation=self.interpolation)
        for key in _seg_keys(results):
            results[key] = mmcv.imresize(results[key], size, interpolation='nearest')
        results['img_shape'] = results['img'].shape[:2]
        results['scale'] = size
        results['scale_factor'] = (size[0] / w, size[1] / h)
        results['keep_ratio'] = False
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale_range={self.scale_range}, aspect_range='
                f'{self.aspect_range}, interpolation={self.interpolation!r}, prob={self.prob})')


@TRANSFORMS.register_module()
class RandomBrightnessShift(BaseTransform):
    """Add one random integer in ``[-max_shift, max_shift]`` to every pixel and channel.

    openseg's ``RandomBrightness``: the shift is drawn uniformly among the integers (both ends
    included), the sum rounded and clipped to ``[0, 255]``, the image stays uint8.

    Required keys: ``img``. Modified keys: ``img``.

    Args:
        max_shift: largest shift. Default: 10.
        prob: probability of shifting (openseg's ``ratio``). Default: 1.0.
    """

    def __init__(self, max_shift: int = 10, prob: float = 1.0) -> None:
        if int(max_shift) != max_shift or max_shift < 0:
            raise ValueError(f'RandomBrightnessShift: max_shift must be a non-negative integer, '
                             f'got {max_shift}.')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'RandomBrightnessShift: prob must be in [0, 1], got {prob}.')
        self.max_shift = int(max_shift)
        self.prob = prob

    @cache_randomness
    def _sample(self) -> int | None:
        if np.random.rand() >= self.prob:
            return None
        return int(np.random.randint(-self.max_shift, self.max_shift + 1))

    def transform(self, results: dict) -> dict:
        """Shift ``results['img']`` in place and return ``results``."""
        shift = self._sample()
        if shift is not None:
            img = results['img'].astype(np.float32) + shift
            results['img'] = np.clip(np.around(img), 0, 255).astype(np.uint8)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(max_shift={self.max_shift}, prob={self.prob})'


@TRANSFORMS.register_module()
class RandomPositionPad(BaseTransform):
    """Pad to ``size`` at a random position, with the mean colour, as openseg's collate.

    openseg pads the *normalised* image with 0 at a random offset (``pad_mode='random'``) and
    the labels with the ignore value. Here the image is padded before normalisation with
    ``pad_val`` per channel (the normaliser's mean, in the image's channel order), so it becomes
    exactly 0 after it; the image turns float32 for that. Images at least ``size`` large are
    left alone. Use it after the crop; the data preprocessor then has nothing left to pad.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``, ``gt_seg_map`` (and the other
    ``seg_fields``). Added keys: ``pad_shape``.

    Args:
        size: ``(height, width)`` to pad to.
        pad_val: image padding value per channel (or one for all). Default: 0.
        seg_pad_val: padding value of the segmentation maps. Default: 255.
    """

    def __init__(self, size: Sequence[int], pad_val: float | Sequence[float] = 0,
                 seg_pad_val: int = 255) -> None:
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f'RandomPositionPad: size must be (height, width), got {size}.')
        self.size = size
        self.pad_val = (tuple(float(v) for v in pad_val) if isinstance(pad_val, Sequence)
                        else float(pad_val))
        self.seg_pad_val = seg_pad_val

    @cache_randomness
    def _offsets(self, pad_h: int, pad_w: int) -> tuple[int, int]:
        # openseg draws the left offset first, then the top one
        left = int(np.random.randint(0, pad_w + 1))
        top = int(np.random.randint(0, pad_h + 1))
        return top, left

    def transform(self, results: dict) -> dict:
        """Pad ``results`` in place and return it."""
        img = results['img']
        h, w = img.shape[:2]
        pad_h, pad_w = max(self.size[0] - h, 0), max(self.size[1] - w, 0)
        if pad_h or pad_w:
            top, left = self._offsets(pad_h, pad_w)
            channels = img.shape[2] if img.ndim == 3 else 1
            fill = np.broadcast_to(np.asarray(self.pad_val, np.float32), (channels, ))
            out = np.empty((h + pad_h, w + pad_w, channels), np.float32)
            out[...] = fill
            out[top:top + h, left:left + w] = img.reshape(h, w, channels)
            results['img'] = out if img.ndim == 3 else out[..., 0]
            for key in _seg_keys(results):
                seg = np.full((h + pad_h, w + pad_w), self.seg_pad_val, results[key].dtype)
                seg[top:top + h, left:left + w] = results[key]
                results[key] = seg
        results['img_shape'] = results['img'].shape[:2]
        results['pad_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, pad_val={self.pad_val}, '
                f'seg_pad_val={self.seg_pad_val})')
