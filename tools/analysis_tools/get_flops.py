"""Count FLOPs and parameters of a config's model at an input shape.

    python tools/analysis_tools/get_flops.py CONFIG --shape H W [--cfg-options ...]

FLOPs are those of the network forward (``mode='tensor'``: backbone, neck and heads, without
post-processing), counted by mmengine's analysis tools; one multiply-add counts as one FLOP,
as in OpenMMLab's tables. Two kinds of attention products are invisible to the tracer and are
added: ``F.scaled_dot_product_attention`` (a handle from its input shapes) and the
neighbourhood attention of DAT++ (elementwise products over the window offsets, counted per
``NeighborhoodAttention2d`` call from its input shape); the output names both parts.
"""
import argparse
import sys

import torch
from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description='Get the FLOPs of a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=[512, 512],
                        help='input image size (H W, or one value for a square)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    return parser.parse_args()


def sdpa_flop_jit(inputs, outputs):
    """Multiply-adds of ``scaled_dot_product_attention``: ``N * M * (d + d_v)`` per batch entry."""
    from mmengine.analysis.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for s in q[:-2]:
        batch *= s
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def main():
    args = parse_args()
    from mmengine.analysis import FlopAnalyzer
    from mmengine.analysis.print_helper import _format_size
    from mmengine.registry import MODELS, DefaultScope

    import mmdense  # noqa: F401
    from mmdense.utils import register_all_modules
    from mmdense.utils.cli import UserInputError, load_config
    from mmdense.utils.tensor_forward import tensor_forward

    if len(args.shape) == 1:
        h = w = args.shape[0]
    elif len(args.shape) == 2:
        h, w = args.shape
    else:
        print('error: --shape takes H W or one size', file=sys.stderr)
        sys.exit(2)
    try:
        cfg = load_config(args.config, args.cfg_options)
    except UserInputError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    scope = cfg.get('default_scope', 'mmdense')
    if scope == 'mmdense':
        register_all_modules(init_default_scope=False)
    DefaultScope.get_instance('get_flops', scope_name=scope)
    model = MODELS.build(cfg.model)
    model.eval()

    class TensorForward(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return tensor_forward(self.inner, x)

    from mmdense.models.backbones.dat_pp_neighborhood_attention import (
        NeighborhoodAttention2d,
        neighborhood_attention_flops,
    )

    na_flops = {}

    def count_na(module, args, output):
        b, hh, ww, c = args[0].shape
        # keyed per module: the count stays right however often the model is traced
        na_flops[id(module)] = neighborhood_attention_flops(b, hh, ww, c, module.kernel_size)

    hooks = [m.register_forward_hook(count_na) for m in model.modules()
             if isinstance(m, NeighborhoodAttention2d)]
    inputs = torch.zeros(1, 3, h, w)
    with torch.no_grad():
        analyzer = FlopAnalyzer(TensorForward(model), (inputs, ))
        analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        traced = analyzer.total()
        by_op = analyzer.by_operator()
        sdpa = by_op.get('scaled_dot_product_attention', 0)
    for hook in hooks:
        hook.remove()
    na = sum(na_flops.values())
    params = sum(p.numel() for p in model.parameters())
    split = '=' * 30
    print(f'{split}\nConfig: {args.config}\nInput shape: (3, {h}, {w})\n'
          f'Flops: {_format_size(traced + na)} ({(traced + na) / 1e9:.1f} GFLOPs)\n'
          f'Params: {_format_size(params)} ({params:,})\n'
          f'{split}')
    print(f'of which attention products: {sdpa / 1e9:.2f} GFLOPs in '
          f'scaled_dot_product_attention, {na / 1e9:.2f} GFLOPs in neighbourhood attention.')
    print('FLOPs are those of the network forward, one multiply-add = one FLOP.')


if __name__ == '__main__':
    main()
