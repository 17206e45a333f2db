"""Channel-wise deformable sampling used by the DeMT deformable mixer.

DeMT's spatial mixer is a 1x1 deformable convolution in which **every input channel has its own
offset** (``offset_groups == in_channels``). With a 1x1 kernel, such a convolution is exactly
"bilinearly sample every channel at its own location, then apply a 1x1 convolution". The
sampling is done here with :func:`torch.nn.functional.grid_sample` on a ``(B*C, 1, H, W)`` view,
which is several times faster on CPU than :func:`torchvision.ops.deform_conv2d` (forward and
backward) and gives the same values (zero padding, the same out-of-image rule).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import deform_conv2d


def conv1x1(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """1x1 convolution of an NCHW map as one batched matmul.

    ``F.conv2d`` with a 1x1 kernel takes its slow im2col path on CPU for small batches run on
    one thread; a batched matmul is fast in every case.
    """
    b, c, h, w = x.shape
    weight = weight.reshape(weight.shape[0], c)
    x = x.reshape(b, c, h * w)
    if bias is None:
        out = torch.matmul(weight, x)
    else:
        out = torch.baddbmm(bias.view(1, -1, 1), weight.expand(b, -1, -1), x)
    return out.view(b, -1, h, w)


def _sample_xy(x: Tensor, offset_xy: Tensor) -> Tensor:
    """Sample channel ``c`` of ``x`` at ``(i + offset_xy[bc, 1], j + offset_xy[bc, 0])``.

    ``offset_xy`` is ``(B*C, 2, H, W)`` with ``(dx, dy)`` pixel offsets. grid_sample reads the
    ``(B*C, H, W, 2)`` grid through a permuted view, so no interleaving copy is made.
    """
    b, c, h, w = x.shape
    # align_corners=True: pixel i maps to -1 + 2 i / (size - 1). Products with ones rather
    # than new_tensor: an ONNX trace records the sizes as graph values, so a --dynamic export
    # scales by the actual size instead of the export size.
    ones = x.new_ones(1)
    scale = torch.cat((ones * (2.0 / (w - 1)), ones * (2.0 / (h - 1)))).view(1, 2, 1, 1)
    base = torch.stack(torch.meshgrid(
        torch.arange(w, dtype=x.dtype, device=x.device),
        torch.arange(h, dtype=x.dtype, device=x.device), indexing='xy')).unsqueeze(0)
    grid = torch.addcmul(base * scale - 1, offset_xy, scale)
    out = F.grid_sample(x.reshape(b * c, 1, h, w), grid.permute(0, 2, 3, 1), mode='bilinear',
                        padding_mode='zeros', align_corners=True)
    return out.view(b, c, h, w)


def channelwise_deform_sample(x: Tensor, offset: Tensor) -> Tensor:
    """Bilinearly sample every channel of ``x`` at its own per-pixel offset.

    Output ``[b, c, i, j] = bilinear(x[b, c], (i + dy, j + dx))`` with
    ``dy = offset[b, 2c, i, j]`` and ``dx = offset[b, 2c + 1, i, j]`` (the layout of
    :func:`torchvision.ops.deform_conv2d` offsets with a 1x1 kernel and one offset group per
    channel). Locations outside the map read zeros, as in deform_conv2d.

    Args:
        x: ``(B, C, H, W)`` feature map.
        offset: ``(B, 2C, H, W)`` offsets in pixels.

    Returns:
        Tensor: ``(B, C, H, W)`` sampled map.
    """
    b, c, h, w = x.shape
    if offset.shape != (b, 2 * c, h, w):
        raise ValueError(f'offset must have shape {(b, 2 * c, h, w)}, got {tuple(offset.shape)}')
    if h == 1 or w == 1:
        # The align_corners=True normalisation divides by (size - 1); use the reference op.
        weight = torch.eye(c, dtype=x.dtype, device=x.device).view(c, c, 1, 1)
        return deform_conv2d(x, offset, weight)
    return _sample_xy(x, offset.reshape(b * c, 2, h, w).flip(1))


class ChannelDeformConv2d(nn.Module):
    """1x1 deformable convolution whose every input channel has its own learned offset.

    This is DeMT's spatial-aware mixing operator (``ChlSpl`` in the official code). The offsets
    come from the feature itself in two steps: a 3x3 conv (``offset_conv``, weight initialised
    to zero) predicts 2 x 3 x 3 displacements that are added to the absolute sampling grid of a
    3x3 kernel around every pixel, and a grouped 3x3 conv (``offset_proj``, 2 groups: rows and
    columns) maps those 18 coordinates to one ``(dy, dx)`` pair per channel. The absolute grid is
    **1-based** (pixel ``i`` has coordinate ``i + 1``), as in the official code; weights trained
    there depend on it. (The official ``offset_conv`` also has a backward hook meant to scale
    its gradient by 0.1; the hook returns None, so it changes nothing and is not reproduced.)

    Args:
        in_channels: input channels; also the number of offset groups.
        out_channels: output channels.
        kernel_points: side of the kernel grid the coordinates describe (3 in DeMT).
        impl: ``'sample'`` (grid_sample then a 1x1 conv; fast) or ``'torchvision'``
            (:func:`torchvision.ops.deform_conv2d`; the reference operator). Both compute the
            same function.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_points: int = 3,
                 impl: str = 'sample') -> None:
        super().__init__()
        if impl not in ('sample', 'torchvision'):
            raise ValueError(f"impl must be 'sample' or 'torchvision', got {impl!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_points = kernel_points
        self.impl = impl
        num_coords = 2 * kernel_points * kernel_points
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.offset_conv = nn.Conv2d(in_channels, num_coords, 3, padding=1)
        self.offset_proj = nn.Conv2d(num_coords, 2 * in_channels, 3, padding=1, groups=2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: nn.Conv2d defaults, zero weight for ``offset_conv``."""
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        bound = 1 / self.in_channels ** 0.5
        nn.init.uniform_(self.bias, -bound, bound)
        self.offset_conv.reset_parameters()
        nn.init.zeros_(self.offset_conv.weight)
        self.offset_proj.reset_parameters()

    def kernel_grid(self, height: int, width: int, ref: Tensor) -> Tensor:
        """``(1, 2K, H, W)`` absolute coordinates of the K kernel points around every pixel.

        Channels ``0..K-1`` are rows, ``K..2K-1`` columns; kernel points in row-major order;
        pixel coordinates start at 1.
        """
        k = self.kernel_points
        half = (k - 1) // 2
        steps = torch.arange(-half, k - half, dtype=ref.dtype, device=ref.device)
        rows = (torch.arange(1, height + 1, dtype=ref.dtype, device=ref.device).view(1, -1, 1)
                + steps.repeat_interleave(k).view(-1, 1, 1))
        cols = (torch.arange(1, width + 1, dtype=ref.dtype, device=ref.device).view(1, 1, -1)
                + steps.repeat(k).view(-1, 1, 1))
        return torch.cat([rows.expand(-1, -1, width), cols.expand(-1, height, -1)]).unsqueeze(0)

    def compute_offset(self, x: Tensor) -> Tensor:
        """``(B, 2C, H, W)`` per-channel ``(dy, dx)`` offsets for ``x``."""
        coords = self.offset_conv(x) + self.kernel_grid(x.shape[2], x.shape[3], x)
        return self.offset_proj(coords)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        if self.impl == 'torchvision':
            return deform_conv2d(x, self.compute_offset(x), self.weight, self.bias)
        if h == 1 or w == 1 or c % 2:
            sampled = channelwise_deform_sample(x, self.compute_offset(x))
        else:
            # offset_proj with every (dy, dx) output pair swapped gives grid_sample's (x, y)
            # order directly. Pairs stay inside offset_proj's two groups when C is even.
            coords = self.offset_conv(x) + self.kernel_grid(h, w, x)
            swap = torch.arange(2 * c, device=x.device).view(c, 2).flip(1).flatten()
            proj = self.offset_proj
            offset_xy = F.conv2d(coords.contiguous(), proj.weight[swap], proj.bias[swap],
                                 padding=1, groups=2)
            # reshape: a channels-last offset (--channels-last) cannot be viewed per channel.
            sampled = _sample_xy(x, offset_xy.reshape(b * c, 2, h, w))
        return conv1x1(sampled, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_points={self.kernel_points}, '
                f'impl={self.impl!r}')
