"""Convert an official HRFormer (HRT) checkpoint (HRNet/HRFormer) to the mmdense ``HRFormer``.

Usage::

    python tools/model_converters/hrformer2mmdense.py hrt_small.pth hrformer-s_mmdense.pth

SRC is a checkpoint of the official ``HRT`` (pose/ or seg/ code): a dict with the weights under
``state_dict``, or a bare state dict, optionally with a ``module.`` prefix. Backbone-only
checkpoints (the ImageNet-pretrained ``hrt_small.pth``/``hrt_base.pth``) give backbone keys,
to load with ``backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``; full top-down pose
checkpoints (``backbone.*``, ``keypoint_head.*``) give a ``TopdownPoseEstimator`` checkpoint,
to load with ``load_from=DST``.

What changes (details in ``mmdense/models/backbones/hrformer_checkpoint.py``): the separate
q/k/v projections are stacked into ``qkv``, ``out_proj`` becomes ``proj``, ``mlp`` becomes
``ffn``, the ``relative_position_index`` buffers are checked against the window size,
``keypoint_head.`` becomes ``head.``. The result loads with ``strict=True``.

The official pose models never add their relative position bias (the tables are inert), so
evaluate converted pose checkpoints with ``extra.with_rpe=False`` (the configs in
``configs/hrformer/`` do); the segmentation models add it (``with_rpe=True``).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import pickle

import torch

from mmdense.models.backbones.hrformer_checkpoint import (
    convert_hrformer_state_dict,
    official_state_dict_from_checkpoint,
)


def convert(src: str, dst: str) -> dict:
    """Convert the checkpoint ``src`` and save it to ``dst``; returns the converted weights."""
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src}: no such checkpoint file.')
    try:
        checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        # mmcv 1.x checkpoints also pickle their `meta` (config text, hook messages), which
        # needs a full unpickle: only convert checkpoints from a source you trust.
        checkpoint = torch.load(src, map_location='cpu', weights_only=False)
    state_dict = official_state_dict_from_checkpoint(checkpoint, src)
    try:
        converted = convert_hrformer_state_dict(state_dict)
    except ValueError as err:
        raise ValueError(f'{src}: {err}') from err
    if osp.dirname(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
    torch.save(
        dict(state_dict=converted,
             meta=dict(source=osp.basename(src),
                       converter='tools/model_converters/hrformer2mmdense.py')), dst)
    return converted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official HRFormer (HRT) checkpoint to the mmdense HRFormer.')
    parser.add_argument('src', help='official checkpoint (HRNet/HRFormer)')
    parser.add_argument('dst', help='output path')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    converted = convert(args.src, args.dst)
    num = sum(v.numel() for v in converted.values())
    print(f'Saved {len(converted)} tensors ({num:,} values) to {args.dst}')


if __name__ == '__main__':
    main()
