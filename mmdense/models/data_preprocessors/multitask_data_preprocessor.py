"""Batching of multi-task samples: normalisation, padding of images and per-task labels."""
from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Number
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData

from mmdense.registry import MODELS
from mmdense.structures import TASK_SPECS


@MODELS.register_module()
class MultiTaskDataPreProcessor(BaseDataPreprocessor):
    """Normalise, pad and stack images; in training also pad every ``gt_<task>`` map.

    Images are converted to float, optionally reordered BGR<->RGB, normalised with ``mean`` and
    ``std``, then padded with ``pad_val`` to the largest size in the batch (at least ``size``,
    rounded up to ``size_divisor``) and stacked. ``pad_mode='corner'`` pads at the bottom and
    right (mmseg's convention); ``pad_mode='center'`` splits the padding evenly, the extra pixel
    of an odd amount going to the bottom/right, as the official DeMT ``PadImage``, which pads
    the *normalised* image with 0 (the mean colour). Every sample gets the metainfo
    ``batch_input_shape`` ``(H, W)`` and ``padding_size`` ``(left, right, top, bottom)`` (mmseg's
    convention), which the segmentor uses to crop predictions back. ``padding_size`` is the one
    record of all padding: this padding is added to the ``padding_size`` that the pipeline
    (``MultiTaskPad``) recorded, if any, so run the preprocessor once per packed batch.

    In training, each ``gt_<task>`` is padded the same way with the task's ignore value from
    :data:`~mmdense.structures.TASK_SPECS` (255 for labels, 0 for depth and normals), or with
    ``gt_pad_vals[task]``. In testing the labels are left at their own size for the metrics.

    Args:
        mean: per-channel mean, in the channel order after any BGR/RGB conversion.
        std: per-channel standard deviation.
        size: minimum padded ``(h, w)``.
        size_divisor: pad to a multiple of it.
        pad_val: image padding value (after normalisation; 0 is the mean colour).
        pad_mode: ``'corner'`` (bottom/right) or ``'center'`` (evenly on both sides).
        gt_pad_vals: per-task label padding values overriding ``TASK_SPECS``.
        bgr_to_rgb: reverse the channel order of 3-channel images.
        rgb_to_bgr: same as ``bgr_to_rgb`` (the conversion is symmetric).
        non_blocking: non-blocking host-to-device copies.
    """

    def __init__(self,
                 mean: Sequence[Number] | None = None,
                 std: Sequence[Number] | None = None,
                 size: Sequence[int] | None = None,
                 size_divisor: int | None = None,
                 pad_val: Number = 0,
                 pad_mode: str = 'corner',
                 gt_pad_vals: dict[str, Number] | None = None,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking)
        if bgr_to_rgb and rgb_to_bgr:
            raise ValueError('MultiTaskDataPreProcessor: set at most one of bgr_to_rgb and '
                             'rgb_to_bgr.')
        if (mean is None) != (std is None):
            raise ValueError('MultiTaskDataPreProcessor: give both `mean` and `std`, or '
                             'neither.')
        if size_divisor is not None and size_divisor <= 0:
            raise ValueError(f'MultiTaskDataPreProcessor: size_divisor must be positive, got '
                             f'{size_divisor}.')
        if pad_mode not in ('corner', 'center'):
            raise ValueError(f"MultiTaskDataPreProcessor: pad_mode must be 'corner' or "
                             f"'center', got {pad_mode!r}.")
        self.channel_conversion = bgr_to_rgb or rgb_to_bgr
        self.pad_mode = pad_mode
        self.size = None if size is None else tuple(int(s) for s in size)
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.gt_pad_vals = dict(gt_pad_vals or {})
        self._enable_normalize = mean is not None
        if mean is not None:
            if len(mean) != len(std):
                raise ValueError('MultiTaskDataPreProcessor: `mean` and `std` lengths differ.')
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1),
                                 False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1),
                                 False)

    def _gt_pad_value(self, task: str) -> Number:
        if task in self.gt_pad_vals:
            return self.gt_pad_vals[task]
        if task not in TASK_SPECS:
            raise KeyError(f'MultiTaskDataPreProcessor: no padding value for gt_{task}; '
                           f'add it to `gt_pad_vals` (known tasks: {sorted(TASK_SPECS)}).')
        return TASK_SPECS[task].ignore_value

    def _target_size(self, sizes: list[tuple[int, int]]) -> tuple[int, int]:
        h = max(s[0] for s in sizes)
        w = max(s[1] for s in sizes)
        if self.size is not None:
            h, w = max(h, self.size[0]), max(w, self.size[1])
        if self.size_divisor is not None:
            d = self.size_divisor
            h, w = math.ceil(h / d) * d, math.ceil(w / d) * d
        return h, w

    def _padding(self, h: int, w: int, target_h: int, target_w: int
                 ) -> tuple[int, int, int, int]:
        """``(left, right, top, bottom)`` taking an ``(h, w)`` image to the target size."""
        pad_h, pad_w = target_h - h, target_w - w
        top, left = (pad_h // 2, pad_w // 2) if self.pad_mode == 'center' else (0, 0)
        return left, pad_w - left, top, pad_h - top

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        """Args:
            data: ``dict(inputs=list of (C, H, W) tensors or a (B, C, H, W) tensor,
                data_samples=list of MultiTaskDataSample)``.
            training: whether to pad the labels.

        Returns:
            dict: ``inputs`` ``(B, C, H, W)`` float tensor and the ``data_samples``.
        """
        data = self.cast_data(data)
        inputs = data['inputs']
        data_samples = data.get('data_samples', None)
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs) if inputs.dim() == 4 else [inputs]
        if not inputs:
            raise ValueError('MultiTaskDataPreProcessor: empty batch.')
        if data_samples is not None and len(data_samples) != len(inputs):
            raise ValueError(f'MultiTaskDataPreProcessor: {len(inputs)} inputs but '
                             f'{len(data_samples)} data samples.')
        images = []
        for img in inputs:
            if img.dim() != 3:
                raise ValueError('MultiTaskDataPreProcessor: every input must be a (C, H, W) '
                                 f'tensor, got shape {tuple(img.shape)}.')
            if self.channel_conversion and img.shape[0] == 3:
                img = img.flip(0)
            img = img.float()
            if self._enable_normalize:
                if img.shape[0] != self.mean.shape[0]:
                    raise ValueError(f'MultiTaskDataPreProcessor: image has {img.shape[0]} '
                                     f'channels but mean/std have {self.mean.shape[0]}.')
                img = (img - self.mean) / self.std
            images.append(img)

        target_h, target_w = self._target_size([tuple(img.shape[1:]) for img in images])
        padded = []
        for i, img in enumerate(images):
            h, w = img.shape[1:]
            padding = self._padding(h, w, target_h, target_w)
            padded.append(F.pad(img, padding, value=self.pad_val) if any(padding) else img)
            if data_samples is None:
                continue
            sample = data_samples[i]
            # One record of all the padding: the pipeline's (MultiTaskPad) plus this one.
            earlier = sample.metainfo.get('padding_size', (0, 0, 0, 0))
            sample.set_metainfo(dict(batch_input_shape=(target_h, target_w),
                                     padding_size=tuple(int(a) + b
                                                        for a, b in zip(earlier, padding))))
            if not training:
                continue
            for key in list(sample.keys()):
                value = sample.get(key)
                if not key.startswith('gt_') or not isinstance(value, PixelData):
                    continue
                gt = value.data
                if tuple(gt.shape[-2:]) != (h, w):
                    raise ValueError(f'MultiTaskDataPreProcessor: {key} is '
                                     f'{tuple(gt.shape[-2:])} but its image is {(h, w)}.')
                if any(padding):
                    gt = F.pad(gt, padding, value=self._gt_pad_value(key[3:]))
                sample.set_field(PixelData(data=gt), key)
        return dict(inputs=torch.stack(padded), data_samples=data_samples)
