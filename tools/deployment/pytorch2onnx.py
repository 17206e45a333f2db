"""Export an mmdense model (network + normalisation) to ONNX.

    python tools/deployment/pytorch2onnx.py CONFIG CKPT --shape H W [--dynamic] [--out F]

The ONNX graph takes ``input``: a float32 ``(N, 3, H, W)`` image batch with pixel values in
0-255, in the channel order the config's pipeline loads (BGR for ``LoadImageFromFile``), already
resized and padded as the test pipeline and the data preprocessor do. The graph applies the
data preprocessor's channel swap and mean/std normalisation itself: this follows the
torchvision / timm convention of a self-contained network, not mmdeploy's (which leaves
normalisation to its SDK), so a caller needs no per-config constants. Padding stays outside
(``onnx_inference.py`` does it), since it depends on the batch.

Outputs, by model family:

* mmseg ``EncoderDecoder`` (MPViT, DAT, HRFormer + OCR, any backbone): ``seg_logits``
  ``(N, C, H, W)``, the decode head's logits resized to the input as mmseg's ``predict`` does;
* ``MultiTaskEncoderDecoder`` (DeMT): one output per task, named after it, at the input size;
* mmpose ``TopdownPoseEstimator`` (HRFormer pose): ``heatmaps`` ``(N, K, H/4, W/4)``;
* ``KMaXDeepLab``: ``class_logits`` ``(N, Q, C+1)`` and ``mask_logits`` ``(N, Q, H/4, W/4)``;
  panoptic merging stays in Python (``onnx_inference.py``).

``--dynamic`` makes the batch, height and width symbolic. It works for DeMT, MPViT, DAT++,
HRFormer (pose and OCR) and any model whose sizes the trace records as graph arithmetic; it is
refused with the reason for DAT and kMaX-DeepLab (:data:`FIXED_SHAPE_REASONS`), and the command
line checks the graph at a second size and batch (:func:`verify_dynamic`).

Operators without an ONNX form are never hit: DeMT's deformable mixer and DAT's deformable
attention already sample with ``grid_sample`` (ONNX ``GridSample``, opset 16+), and their
``torchvision.ops.deform_conv2d`` fallback (1-pixel maps) cannot occur at export sizes (see
:func:`check_export_shape`).
"""
from __future__ import annotations

import argparse
import copy
import os.path as osp
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

OPSET = 18


class ExportWrapper(nn.Module):
    """Image batch (0-255, pipeline channel order) to the raw outputs of one model family.

    Args:
        model: a built mmdense / mmseg / mmpose model in eval mode.
        normalize: apply the data preprocessor's channel swap and mean/std in the graph.
    """

    def __init__(self, model: nn.Module, normalize: bool = True) -> None:
        super().__init__()
        self.model = model
        self.family = model_family(model)
        pre = getattr(model, 'data_preprocessor', None)
        self.swap_channels = bool(normalize and getattr(pre, 'channel_conversion', False))
        enable = normalize and getattr(pre, '_enable_normalize', False)
        mean = pre.mean.detach().clone().view(1, -1, 1, 1) if enable else None
        std = pre.std.detach().clone().view(1, -1, 1, 1) if enable else None
        self.register_buffer('mean', mean, persistent=False)
        self.register_buffer('std', std, persistent=False)

    @property
    def output_names(self) -> list[str]:
        if self.family == 'multitask':
            return list(self.model.tasks)
        return {'seg': ['seg_logits'], 'pose': ['heatmaps'],
                'kmax': ['class_logits', 'mask_logits']}[self.family]

    def preprocess(self, img: Tensor) -> Tensor:
        if self.swap_channels:
            img = img.flip(1)
        if self.mean is not None:
            img = (img - self.mean) / self.std
        return img

    def forward(self, img: Tensor) -> tuple[Tensor, ...]:
        x = self.preprocess(img)
        model = self.model
        if self.family == 'multitask':
            logits = model.whole_inference(x)
            return tuple(logits[t] for t in model.tasks)
        if self.family == 'kmax':
            class_logits, mask_logits = model._forward(x)
            return class_logits, mask_logits
        if self.family == 'pose':
            return (model._forward(x), )
        feats = model.extract_feat(x)
        heads = model.decode_head
        if isinstance(heads, nn.ModuleList):  # CascadeEncoderDecoder (OCR)
            logits = heads[0].forward(feats)
            for head in heads[1:]:
                logits = head.forward(feats, logits)
            heads = heads[-1]
        else:
            logits = heads.forward(feats)
        # mmseg's BaseDecodeHead.predict_by_feat resizes to the input the same way.
        logits = F.interpolate(logits, size=x.shape[2:], mode='bilinear',
                               align_corners=heads.align_corners)
        return (logits, )


class MatrixAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two products with 0/1-averaging matrices.

    ONNX has no adaptive pooling: the exporter handles only output sizes that divide the input,
    and no symbolic sizes. Bin ``i`` of ``n`` over ``L`` inputs averages
    ``[floor(i L / n), ceil((i + 1) L / n))``, PyTorch's rule; the matrices are built from the
    traced size, so the graph stays valid for every input size. Used only in the exported
    copy of the model.

    Args:
        output_size: ``int`` or ``(h, w)`` (``None`` keeps that side).
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        if not isinstance(output_size, (tuple, list)):
            output_size = (output_size, output_size)
        self.output_size = tuple(output_size)

    @staticmethod
    def _matrix(length: Tensor | int, bins: int, ref: Tensor) -> Tensor:
        pos = torch.arange(length, device=ref.device).unsqueeze(0)
        i = torch.arange(bins, device=ref.device).unsqueeze(1)
        start = torch.div(i * length, bins, rounding_mode='floor')
        end = torch.div((i + 1) * length + bins - 1, bins, rounding_mode='floor')
        inside = ((pos >= start) & (pos < end)).to(ref.dtype)
        return inside / inside.sum(dim=1, keepdim=True)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        oh = h if self.output_size[0] is None else self.output_size[0]
        ow = w if self.output_size[1] is None else self.output_size[1]
        rows = self._matrix(h, oh, x)
        cols = self._matrix(w, ow, x)
        return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


class ScaleUpsample(nn.Module):
    """mmseg's ``Upsample`` by a scale factor, with the output size computed in the graph.

    mmseg's module turns ``size * scale_factor`` into Python integers, which a trace keeps as
    the export size's constants. ``recompute_scale_factor=True`` gives the same output size
    (``floor(size * scale)``) and the same sampling (from the sizes), and traces the size as
    graph arithmetic. Used only in the exported copy of the model.

    Args:
        scale_factor: float or per-side tuple.
        mode: interpolation mode.
        align_corners: as in ``F.interpolate``.
    """

    def __init__(self, scale_factor, mode: str, align_corners: bool | None) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode,
                             align_corners=self.align_corners, recompute_scale_factor=True)


def _exportable_module(child: nn.Module) -> nn.Module | None:
    if isinstance(child, nn.AdaptiveAvgPool2d):
        return MatrixAdaptiveAvgPool2d(child.output_size)
    try:
        from mmseg.models.utils import Upsample
    except ImportError:  # mmseg is optional for pose-only installs
        return None
    if isinstance(child, Upsample) and not child.size and child.scale_factor:
        return ScaleUpsample(child.scale_factor, child.mode, child.align_corners)
    return None


def exportable_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose adaptive average pools are :class:`MatrixAdaptiveAvgPool2d`
    and whose mmseg ``Upsample`` modules are :class:`ScaleUpsample`."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in module.named_children():
            replacement = _exportable_module(child)
            if replacement is not None:
                setattr(module, name, replacement)
    return model


def model_family(model: nn.Module) -> str:
    """'multitask', 'kmax', 'pose' or 'seg' (any mmseg EncoderDecoder), by the model's class."""
    names = {cls.__name__ for cls in type(model).__mro__}
    if 'MultiTaskEncoderDecoder' in names:
        return 'multitask'
    if 'KMaXDeepLab' in names:
        return 'kmax'
    if 'TopdownPoseEstimator' in names:
        return 'pose'
    if 'EncoderDecoder' in names:
        return 'seg'
    raise TypeError(f'pytorch2onnx: no ONNX export for {type(model).__name__}; supported: '
                    'MultiTaskEncoderDecoder, KMaXDeepLab, TopdownPoseEstimator, EncoderDecoder')


# Why a family's graph can only be right at the size it was traced at (``--dynamic`` refused).
FIXED_SHAPE_REASONS = {
    'DAT': (
        'its (shifted) window attention gathers tokens with a window layout and mask '
        'precomputed for the feature-map size, which the trace stores as constants'),
    'KMaXDeepLab': (
        "DeepLab2's resizes align corners by the parity of the feature-map width and the axial "
        "attention indexes its relative-position table by the map's length, both Python "
        "values that the trace stores as constants"),
}


def fixed_shape_reason(model: nn.Module) -> str | None:
    """Why ``model``'s ONNX graph cannot take other input sizes, or None if it can."""
    for module in (model, getattr(model, 'backbone', None)):
        if module is None:
            continue
        for cls in type(module).__mro__:
            if cls.__name__ in FIXED_SHAPE_REASONS:
                return f'{type(module).__name__}: {FIXED_SHAPE_REASONS[cls.__name__]}'
    return None


def check_export_shape(height: int, width: int) -> None:
    """Reject sizes whose stride-32 maps would be 1 pixel wide (reference-op fallbacks)."""
    if height < 32 or width < 32:
        raise ValueError(f'pytorch2onnx: --shape {height} {width} is too small; use at least '
                         '32 x 32 so that no feature map is one pixel wide')


def build_model(config, checkpoint: str | None = None, cfg_options: dict | None = None
                ) -> nn.Module:
    """Build the model of ``config`` (path or Config) in eval mode, loading ``checkpoint``."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, DefaultScope
    from mmengine.runner import load_checkpoint

    import mmdense  # noqa: F401  (applies the upstream compatibility patches)
    from mmdense.utils import register_all_modules

    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope', 'mmdense')
    if scope == 'mmdense':
        register_all_modules(init_default_scope=False)
    else:
        import importlib
        importlib.import_module(f'{scope}.models')
    model_cfg = cfg.model.copy()
    backbone = model_cfg.get('backbone', {})
    if checkpoint is not None and isinstance(backbone, dict) and 'init_cfg' in backbone:
        backbone['init_cfg'] = None  # the checkpoint holds every weight
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    # SyncBN has no single-process (nor ONNX) form; in eval mode it is plain BN.
    return revert_sync_batchnorm(model).eval()


def export_onnx(model: nn.Module, out: str, shape: tuple[int, int], dynamic: bool = False,
                batch: int = 1, normalize: bool = True) -> list[str]:
    """Write ``model`` as ONNX to ``out``; returns the output names.

    ``dynamic`` makes the batch, height and width symbolic. The TorchScript-based exporter is
    used: the models pick window and padding sizes with Python arithmetic on shapes, which it
    records as graph operations, while the dynamo exporter would need every such branch
    guarded.
    """
    check_export_shape(*shape)
    reason = fixed_shape_reason(model) if dynamic else None
    if reason is not None:
        raise ValueError(f'pytorch2onnx: --dynamic is not possible for this model, {reason}. '
                         'Export one model per input size, without --dynamic.')
    wrapper = ExportWrapper(exportable_copy(model.eval()), normalize=normalize).eval()
    names = wrapper.output_names
    dummy = torch.rand(batch, 3, *shape) * 255
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        # Every output of the families that allow --dynamic is an (N, C, h, w) map.
        dynamic_axes.update({n: {0: 'batch', 2: 'out_height', 3: 'out_width'} for n in names})
    with torch.no_grad():
        torch.onnx.export(wrapper, (dummy, ), out, input_names=['input'], output_names=names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
    return names


def max_relative_error(model: nn.Module, path: str, shape: tuple[int, int],
                       batch: int = 1) -> float:
    """Largest error of the ONNX model at ``shape``, relative to PyTorch's largest output."""
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    img = torch.rand(batch, 3, *shape) * 255
    with torch.no_grad():
        expected = ExportWrapper(model).eval()(img)
    got = session.run(None, {'input': img.numpy()})
    return max(float(np.abs(g - e.numpy()).max() / max(np.abs(e.numpy()).max(), 1e-12))
               for g, e in zip(got, expected))


def verify_dynamic(model: nn.Module, path: str, shape: tuple[int, int]) -> None:
    """Check a ``--dynamic`` export at another size and batch; raise if the trace fixed shapes.

    Sizes computed in Python (``int()``, ``math.ceil``, cached index tables) are constants of
    the trace; :func:`export_onnx` refuses the families known to have them
    (:data:`FIXED_SHAPE_REASONS`), and this check catches any other model that does.
    """
    other = (shape[0] + 32, shape[1] + 64)
    err = max_relative_error(model, path, other, batch=2)
    if not err < 1e-4:
        raise ValueError(f'pytorch2onnx: the --dynamic graph of {type(model).__name__} is wrong '
                         f'at {other} (relative error {err:.2g}): its trace fixes shapes. '
                         'Export one model per input size, without --dynamic.')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help="checkpoint file ('none' for random weights)")
    parser.add_argument('--shape', type=int, nargs=2, required=True, metavar=('H', 'W'),
                        help='input height and width (after resizing and padding)')
    parser.add_argument('--dynamic', action='store_true',
                        help='symbolic batch, height and width')
    parser.add_argument('--out', help='output file (default: <config name>.onnx)')
    parser.add_argument('--no-normalize', action='store_true',
                        help='leave the mean/std normalisation out of the graph')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in tools/test.py')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config file {args.config} not found', file=sys.stderr)
        return 2
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    if ckpt is not None and not osp.isfile(ckpt):
        print(f'error: checkpoint file {ckpt} not found', file=sys.stderr)
        return 2
    out = args.out or osp.splitext(osp.basename(args.config))[0] + '.onnx'
    try:
        model = build_model(args.config, ckpt, args.cfg_options)
        names = export_onnx(model, out, tuple(args.shape), args.dynamic,
                            normalize=not args.no_normalize)
        if args.dynamic and not args.no_normalize:
            verify_dynamic(model, out, tuple(args.shape))
    except (TypeError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'wrote {out} (input: input (N, 3, {args.shape[0]}, {args.shape[1]}); '
          f'outputs: {", ".join(names)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
