"""Convert an official MPViT checkpoint (youngwanLEE/MPViT) to the mmdense ``MPViT``.

Usage::

    python tools/model_converters/mpvit2mmdense.py mpvit_small.pth mpvit-s_mmdense.pth

SRC is an official ImageNet checkpoint (``mpvit_{tiny,xsmall,small,base}.pth``): a dict with
the weights under ``model`` (or ``state_dict``), or a bare state dict. The classification head
(``cls_head.*``/``head.*``) and any other non-backbone key are dropped; the output holds backbone
keys, to load with ``backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``.

What changes (details in ``mmdense/models/backbones/mpvit_checkpoint.py``): the ``P`` per-path
encoders of a stage (``mhca_blks.j.*``) are stacked along a leading path dim
(``encoders.*``), the aliases of the position encodings shared by an encoder's layers are
checked and dropped, ``patch_conv.`` disappears and ``InvRes`` becomes ``inv_res``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import pickle

import torch

from mmdense.models.backbones.mpvit_checkpoint import convert_mpvit_state_dict


def convert(src: str, dst: str) -> dict:
    """Convert the checkpoint ``src`` and save it to ``dst``; returns the converted weights."""
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src}: no such checkpoint file.')
    try:
        checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        # DeiT-style training checkpoints also pickle their argparse `args`, which needs a
        # full unpickle: only convert checkpoints from a source you trust.
        checkpoint = torch.load(src, map_location='cpu', weights_only=False)
    try:
        converted, dropped = convert_mpvit_state_dict(checkpoint)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{src}: {err}') from err
    if dropped:
        shown = ', '.join(dropped[:6]) + (', ...' if len(dropped) > 6 else '')
        print(f'Dropped {len(dropped)} non-backbone keys: {shown}')
    if osp.dirname(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
    torch.save(
        dict(state_dict=converted,
             meta=dict(source=osp.basename(src),
                       converter='tools/model_converters/mpvit2mmdense.py')), dst)
    return converted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official MPViT checkpoint to the mmdense MPViT backbone.')
    parser.add_argument('src', help='official checkpoint (youngwanLEE/MPViT)')
    parser.add_argument('dst', help='output path')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    converted = convert(args.src, args.dst)
    num = sum(v.numel() for k, v in converted.items() if not k.endswith('num_batches_tracked'))
    print(f'Saved {len(converted)} tensors ({num:,} values) to {args.dst}')


if __name__ == '__main__':
    main()
