"""Count FLOPs and parameters of a config's model at an input shape.

    python tools/analysis_tools/get_flops.py CONFIG --shape H W [--cfg-options ...]

FLOPs are those of the network forward (``mode='tensor'``: backbone, neck and heads, without
post-processing), counted by mmengine's analysis tools; one multiply-add counts as one FLOP,
as in OpenMMLab's tables.
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


def main():
    args = parse_args()
    from mmengine.analysis import get_model_complexity_info
    from mmengine.registry import MODELS, DefaultScope

    import mmdense  # noqa: F401
    from mmdense.utils import register_all_modules
    from mmdense.utils.cli import UserInputError, load_config
    from mmdense.utils.model_inputs import tensor_forward

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

    inputs = torch.zeros(1, 3, h, w)
    with torch.no_grad():
        info = get_model_complexity_info(
            TensorForward(model), inputs=(inputs, ), show_table=False, show_arch=False)
    params = sum(p.numel() for p in model.parameters())
    split = '=' * 30
    print(f'{split}\nConfig: {args.config}\nInput shape: (3, {h}, {w})\n'
          f'Flops: {info["flops_str"]}\nParams: {info["params_str"]} ({params:,})\n{split}')
    print('FLOPs are those of the network forward, one multiply-add = one FLOP.')


if __name__ == '__main__':
    main()
