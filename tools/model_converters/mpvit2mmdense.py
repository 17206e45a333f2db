"""Convert an official MPViT checkpoint (youngwanLEE/MPViT) to the mmdense ``MPViT``.

Usage::

    python tools/model_converters/mpvit2mmdense.py mpvit_small.pth mpvit-s_mmdense.pth \
        [--unsafe-load]

SRC is an official ImageNet checkpoint (``mpvit_{tiny,xsmall,small,base}.pth``): a dict with
the weights under ``model`` (or ``state_dict``), or a bare state dict. The classification head
(``cls_head.*``/``head.*``) and any other non-backbone key are dropped; the output holds backbone
keys, to load with ``backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``.

What changes (details in ``mmdense/models/backbones/mpvit_checkpoint.py``): the ``P`` per-path
encoders of a stage (``mhca_blks.j.*``) are stacked along a leading path dim
(``encoders.*``), the aliases of the position encodings shared by an encoder's layers are
checked and dropped, ``patch_conv.`` disappears and ``InvRes`` becomes ``inv_res``.

The file is read with the safe loader; DeiT-style training checkpoints that also pickle their
argparse ``args`` need ``--unsafe-load``, only for files from a source you trust.
"""
from __future__ import annotations

import argparse
import sys

from mmdense.models.backbones.mpvit_checkpoint import convert_mpvit_state_dict
from mmdense.utils.checkpoint import (
    CheckpointError,
    add_unsafe_load_argument,
    conversion_failed,
    load_checkpoint_file,
    save_converted_checkpoint,
    summarize_conversion,
)


def convert(src: str, dst: str, unsafe: bool | None = None) -> dict:
    """Convert the checkpoint ``src`` and save it to ``dst``; returns the converted weights."""
    checkpoint = load_checkpoint_file(src, unsafe=unsafe)
    try:
        converted, dropped = convert_mpvit_state_dict(checkpoint, src)
    except (TypeError, ValueError) as err:
        raise CheckpointError(err if str(err).startswith(src) else f'{src}: {err}') from err
    if dropped:
        shown = ', '.join(dropped[:6]) + (', ...' if len(dropped) > 6 else '')
        print(f'Dropped {len(dropped)} non-backbone keys: {shown}')
    save_converted_checkpoint(converted, dst, src, 'tools/model_converters/mpvit2mmdense.py')
    return converted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official MPViT checkpoint to the mmdense MPViT backbone.')
    parser.add_argument('src', help='official checkpoint (youngwanLEE/MPViT)')
    parser.add_argument('dst', help='output path')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        converted = convert(args.src, args.dst, unsafe=args.unsafe_load or None)
    except (CheckpointError, FileNotFoundError) as err:
        return conversion_failed('mpvit2mmdense', err)
    print(summarize_conversion(converted, args.dst))
    return 0


if __name__ == '__main__':
    sys.exit(main())
