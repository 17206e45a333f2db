"""Test an exported ONNX model with onnxruntime (CPU), as tools/test.py tests the PyTorch one.

    python tools/deployment/onnx_inference.py CONFIG MODEL.onnx [--work-dir D] [--show-dir S]

The config's test dataloader, data preprocessor, post-processing (cropping, resizing, flip
test, pose decoding, kMaX panoptic merging), evaluator and visualization hook all run as in
tools/test.py; only the network is replaced by the ONNX model. The model must have been
exported with normalisation in the graph (the default of pytorch2onnx.py) at the size the
test pipeline pads to (or with ``--dynamic``): the preprocessed batch is turned back into
pixel values (mean colour where padded) before it is fed to onnxruntime.
"""
from __future__ import annotations

import argparse
import importlib.util
import os.path as osp
import sys
import types

import torch
from torch import Tensor

HERE = osp.dirname(osp.abspath(__file__))


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class OnnxRunner:
    """Calls an onnxruntime session on normalised batches, undoing the normalisation."""

    def __init__(self, path: str, model: torch.nn.Module) -> None:
        import onnxruntime as ort
        self.session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
        self.names = [o.name for o in self.session.get_outputs()]
        pre = model.data_preprocessor
        self.swap = bool(getattr(pre, 'channel_conversion', False))
        enabled = getattr(pre, '_enable_normalize', False)
        self.mean = pre.mean.view(1, -1, 1, 1) if enabled else None
        self.std = pre.std.view(1, -1, 1, 1) if enabled else None

    def __call__(self, x: Tensor) -> list[Tensor]:
        if self.mean is not None:
            x = x * self.std + self.mean
        if self.swap:
            x = x.flip(1)
        outs = self.session.run(None, {'input': x.detach().cpu().float().numpy()})
        return [torch.from_numpy(o).to(x.device) for o in outs]


def patch_network(model: torch.nn.Module, runner: OnnxRunner) -> torch.nn.Module:
    """Replace the network inside ``model``'s predict path by ``runner`` (in place)."""
    family = _load('pytorch2onnx', osp.join(HERE, 'pytorch2onnx.py')).model_family(model)
    if family == 'multitask':
        def inference(self, inputs, batch_img_metas=None):
            return dict(zip(self.tasks, runner(inputs)))
        model.inference = types.MethodType(inference, model)
    elif family == 'kmax':
        model.extract_feat = lambda inputs: inputs
        model.decode_head.predict = lambda inputs: tuple(runner(inputs))
    elif family == 'pose':
        # Flip testing calls extract_feat on the flipped batch too, as the PyTorch model does.
        model.extract_feat = lambda inputs: tuple(runner(inputs))
        model.head.forward = lambda feats: feats[0]
    else:
        model.encode_decode = lambda inputs, batch_img_metas: runner(inputs)[0]
    return model


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('model', help='ONNX file written by pytorch2onnx.py')
    parser.add_argument('--work-dir', help='the directory to save the evaluation log')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--show-dir', help='directory where painted images will be saved')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, as in tools/test.py')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    trigger_visualization_hook = _load(
        'mmdense_test_tool', osp.join(HERE, '..', 'test.py')).trigger_visualization_hook

    import mmdense  # noqa: F401  (applies the upstream compatibility patches)
    from mmdense.utils import register_all_modules
    from mmdense.utils.cli import UserInputError, check_data_roots, load_config
    try:
        if not osp.isfile(args.model):
            raise UserInputError(f"ONNX model '{args.model}' does not exist.")
        cfg = load_config(args.config, args.cfg_options)
        check_data_roots(cfg, ['test_dataloader'])
    except UserInputError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    cfg.work_dir = args.work_dir or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0] + '_onnx')
    if args.show_dir:
        trigger_visualization_hook(cfg, argparse.Namespace(show=False, show_dir=args.show_dir))
    backbone = cfg.model.get('backbone', {})
    if isinstance(backbone, dict) and 'init_cfg' in backbone:
        backbone['init_cfg'] = None  # only the Python pre/post-processing of the model runs
    cfg.load_from = None
    if cfg.get('default_scope', 'mmdense') == 'mmdense':
        register_all_modules(init_default_scope=False)

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    if args.out:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    patch_network(runner.model, OnnxRunner(args.model, runner.model))
    metrics = runner.test()
    print(metrics)
    return 0


if __name__ == '__main__':
    sys.exit(main())
