"""Convert an official DeMT (PyTorch-Lightning) checkpoint to an mmdense checkpoint.

Usage::

    python tools/model_converters/demt2mmdense.py SRC.ckpt DST.pth [--tasks semseg,depth,...]

The result (``meta`` + ``state_dict``) loads into the ``MultiTaskEncoderDecoder`` of the
matching DeMT config (``load_from=DST.pth`` or ``tools/test.py CONFIG DST.pth``).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

import torch

from mmdense.models.utils.demt_converter import (
    DeMTConversionError,
    convert_demt_state_dict,
    extract_demt_state_dict,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official DeMT checkpoint (.ckpt)')
    parser.add_argument('dst', help='output mmdense checkpoint (.pth)')
    parser.add_argument('--tasks', help='comma-separated tasks in the official config order '
                        '(default: read from the checkpoint)')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='unpickle arbitrary objects if the safe loader refuses the file; '
                        'only for checkpoints you trust')
    return parser.parse_args(argv)


def load_checkpoint(path: str, unsafe: bool = False) -> dict:
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # Lightning files may pickle non-tensor objects
        if not unsafe:
            raise RuntimeError(f'{path} cannot be loaded with weights_only=True ({e}). If you '
                               'trust the file, rerun with --unsafe-load.') from e
        return torch.load(path, map_location='cpu', weights_only=False)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        ckpt = load_checkpoint(args.src, args.unsafe_load)
        tasks = args.tasks.split(',') if args.tasks else None
        state_dict, info = convert_demt_state_dict(extract_demt_state_dict(ckpt), tasks)
    except (DeMTConversionError, FileNotFoundError, RuntimeError) as e:
        print(f'demt2mmdense: error: {e}', file=sys.stderr)
        return 1
    meta = dict(converted_from=osp.basename(args.src), converter='demt2mmdense',
                tasks=info['tasks'], backbone=info['backbone'])
    for key in ('epoch', 'global_step'):
        if key in ckpt:
            meta[key] = ckpt[key]
    dirname = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(dirname):
        print(f'demt2mmdense: error: output directory {dirname} does not exist', file=sys.stderr)
        return 1
    torch.save(dict(meta=meta, state_dict=state_dict), args.dst)
    print(f'{args.src} -> {args.dst}: {len(state_dict)} tensors, backbone {info["backbone"]}, '
          f'tasks {",".join(info["tasks"])}; skipped {len(info["skipped"])} non-model entries.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
