"""Inference steps shared by the mmdense segmentors: sliding windows and the way back from the
padded, maybe flipped network input to the original image.

mmseg has both steps, but not in a form these segmentors can call:
``EncoderDecoder.slide_inference`` accumulates one tensor of ``self.out_channels`` channels
from ``self.encode_decode``, and ``BaseSegmentor.postprocess_result`` crops, flips and resizes
inside the same loop that turns the logits into ``pred_sem_seg`` (argmax or threshold). A
multi-task model has a dict of logits with one post-processing per task, and kMaX-DeepLab post-
processes mask logits, so both use these functions instead, with mmseg's conventions:
``padding_size`` is ``(left, right, top, bottom)`` and the order is crop, unflip, resize.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor

Logits = Tensor | Mapping[str, Tensor]


def slide_inference(forward: Callable[[Tensor], Logits], inputs: Tensor,
                    crop_size: Sequence[int], stride: Sequence[int]) -> Logits:
    """Average the outputs of overlapping ``crop_size`` windows taken every ``stride``.

    The window grid is mmseg's (``EncoderDecoder.slide_inference``): the last window of a row
    or column is aligned with the image border, and an image smaller than a window is one
    window.

    Args:
        forward: maps a ``(B, C, h, w)`` window to logits at the window size: one tensor or a
            dict of tensors (one per task, each with its own channels).
        inputs: ``(B, C, H, W)`` images.
        crop_size: window ``(h, w)``.
        stride: window step ``(h, w)``.

    Returns:
        Tensor | dict: the averaged logits at ``(H, W)``, of the same structure as
        ``forward``'s.
    """
    h_crop, w_crop = crop_size
    h_stride, w_stride = stride
    batch, _, h_img, w_img = inputs.shape
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    sums: dict[str, Tensor] = {}
    single = False
    count = inputs.new_zeros((batch, 1, h_img, w_img))
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, h_img)
            x2 = min(w_idx * w_stride + w_crop, w_img)
            y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
            out = forward(inputs[:, :, y1:y2, x1:x2])
            if isinstance(out, Tensor):
                single, out = True, {'': out}
            for key, logit in out.items():
                if key not in sums:
                    sums[key] = inputs.new_zeros((batch, logit.shape[1], h_img, w_img))
                sums[key][:, :, y1:y2, x1:x2] += logit
            count[:, :, y1:y2, x1:x2] += 1
    averaged = {key: value / count for key, value in sums.items()}
    return averaged[''] if single else averaged


def unpad_unflip_resize(logit: Tensor, padding_size: Sequence[int] = (0, 0, 0, 0),
                        flip_direction: str | None = None, size: Sequence[int] | None = None,
                        align_corners: bool = False) -> Tensor:
    """Logits of a padded, maybe flipped input back on the original image.

    Args:
        logit: ``(N, C, H, W)`` logits at the network input size.
        padding_size: ``(left, right, top, bottom)`` padding to cut away (mmseg's order).
        flip_direction: ``'horizontal'`` or ``'vertical'`` to undo a flip, None for none.
        size: ``(h, w)`` to resize to (bilinear) after cropping, e.g. ``ori_shape``.
        align_corners: ``align_corners`` of the resize.

    Returns:
        Tensor: ``(N, C, h, w)`` logits.
    """
    height, width = logit.shape[-2:]
    left, right, top, bottom = padding_size
    logit = logit[..., top:height - bottom, left:width - right]
    if flip_direction == 'horizontal':
        logit = logit.flip(-1)
    elif flip_direction == 'vertical':
        logit = logit.flip(-2)
    elif flip_direction is not None:
        raise ValueError(f"cannot undo a {flip_direction!r} flip: expected 'horizontal' or "
                         "'vertical'.")
    if size is not None and tuple(logit.shape[-2:]) != tuple(size[:2]):
        logit = F.interpolate(logit, size=tuple(size[:2]), mode='bilinear',
                              align_corners=align_corners)
    return logit
