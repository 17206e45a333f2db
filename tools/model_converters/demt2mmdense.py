"""Convert an official DeMT (PyTorch-Lightning) checkpoint to an mmdense checkpoint.

Usage::

    python tools/model_converters/demt2mmdense.py SRC.ckpt DST.pth [--tasks semseg,depth,...] \
        [--unsafe-load]

The result (``meta`` + ``state_dict``) loads into the ``MultiTaskEncoderDecoder`` of the
matching DeMT config (``load_from=DST.pth`` or ``tools/test.py CONFIG DST.pth``).

SRC is read with the safe loader. Lightning checkpoints whose ``hyper_parameters`` or callback
states pickle Python objects need ``--unsafe-load``, only for files from a source you trust.
"""
from __future__ import annotations

import argparse
import sys

from mmdense.models.heads.demt.demt_checkpoint import (
    DeMTConversionError,
    convert_demt_state_dict,
    extract_demt_state_dict,
)
from mmdense.utils.checkpoint import (
    CheckpointError,
    add_unsafe_load_argument,
    conversion_failed,
    load_checkpoint_file,
    save_converted_checkpoint,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official DeMT checkpoint (.ckpt)')
    parser.add_argument('dst', help='output mmdense checkpoint (.pth)')
    parser.add_argument('--tasks', help='comma-separated tasks in the official config order '
                        '(default: read from the checkpoint)')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def convert(src: str, dst: str, tasks: list[str] | None = None,
            unsafe: bool | None = None) -> tuple[dict, dict]:
    """Convert ``src`` and save it to ``dst``; returns the weights and the conversion facts."""
    ckpt = load_checkpoint_file(src, unsafe=unsafe)
    try:
        state_dict, info = convert_demt_state_dict(extract_demt_state_dict(ckpt, src), tasks)
    except DeMTConversionError as err:
        raise CheckpointError(err if str(err).startswith(src) else f'{src}: {err}') from err
    meta = dict(tasks=info['tasks'], backbone=info['backbone'])
    for key in ('epoch', 'global_step'):
        if key in ckpt:
            meta[key] = ckpt[key]
    save_converted_checkpoint(state_dict, dst, src, 'tools/model_converters/demt2mmdense.py',
                              **meta)
    return state_dict, info


def main(argv=None) -> int:
    args = parse_args(argv)
    tasks = args.tasks.split(',') if args.tasks else None
    try:
        state_dict, info = convert(args.src, args.dst, tasks, unsafe=args.unsafe_load or None)
    except (CheckpointError, FileNotFoundError) as err:
        return conversion_failed('demt2mmdense', err)
    print(f'{args.src} -> {args.dst}: {len(state_dict)} tensors, backbone {info["backbone"]}, '
          f'tasks {",".join(info["tasks"])}; skipped {len(info["skipped"])} non-model entries.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
