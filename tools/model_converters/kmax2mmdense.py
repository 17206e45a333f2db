"""Convert an official kMaX-DeepLab checkpoint (bytedance/kmax-deeplab) to mmdense.

Usage::

    python tools/model_converters/kmax2mmdense.py kmax_r50.pth kmax_r50_mmdense.pth

SRC is a detectron2 checkpoint of the official PyTorch release (``.pth`` with the weights under
``model``, or a detectron2 ``.pkl`` holding numpy arrays), or a bare backbone checkpoint such as
the ImageNet ``R-50.pkl`` / ConvNeXt weights the official configs start from. DST holds
``{'state_dict': ..., 'meta': ...}`` for ``KMaXDeepLab``: load a full model with
``load_from=DST`` (or ``tools/test.py CONFIG DST``), a backbone with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.

What changes:

- decoder keys ``sem_seg_head.*`` become ``decode_head.*`` with mmdense's module names
  (``_stages.i._blocks.j._conv1_bn_act.norm`` -> ``stages.i.j.conv1.bn``, the train-only
  ``predictor._auxiliary_semantic_predictor`` -> ``aux_semantic_head``, ...); see
  ``mmdense/models/heads/kmax/checkpoint.py``;
- the detectron2 ResNet (``stem``, ``res2``-``res5``, ``shortcut``) becomes mmseg's ``ResNet``
  (``conv1``/``bn1``, ``layer1``-``layer4``, ``downsample``); ConvNeXt
  (``downsample_layers``, ``stages.i.j.dwconv``/``pwconv1``...) becomes timm's layout used by
  ``TimmConvNeXt`` (``stem``, ``stages.i.downsample``, ``stages.i.blocks.j.conv_dw``/``mlp.fc1``);
- ``pixel_mean``/``pixel_std`` buffers are dropped (the data preprocessor normalises);
- nothing input-size dependent exists in the checkpoints (the official axial-attention distance
  tables are not saved), so the converted model runs at any input size.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import pickle

import numpy as np
import torch

from mmdense.models.heads.kmax.checkpoint import convert_kmax_state_dict


def load_official_checkpoint(path: str) -> dict:
    """Load a ``.pth``/``.pkl`` checkpoint and return its flat weight dict (tensors)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file.')
    if path.endswith('.pkl'):
        with open(path, 'rb') as f:
            ckpt = pickle.load(f, encoding='latin1')
    else:
        try:
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError:
            # detectron2 checkpoints also pickle the trainer state (iteration, scheduler).
            ckpt = torch.load(path, map_location='cpu', weights_only=False)
    if isinstance(ckpt, dict):
        for key in ('model', 'state_dict'):
            if key in ckpt and isinstance(ckpt[key], dict):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, dict) or not ckpt:
        raise ValueError(f'{path}: expected a dict of weights (under "model" for detectron2 '
                         'checkpoints)')
    return {k: torch.from_numpy(np.asarray(v)) if not isinstance(v, torch.Tensor) else v
            for k, v in ckpt.items()}


def convert(src: str, dst: str) -> dict:
    """Convert ``src`` and save it to ``dst``; returns the converted weights."""
    state_dict = load_official_checkpoint(src)
    try:
        converted = convert_kmax_state_dict(state_dict)
    except KeyError as err:
        raise ValueError(f'{src}: {err.args[0]}') from err
    if osp.dirname(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
    torch.save(
        dict(state_dict=converted,
             meta=dict(source=osp.basename(src),
                       converter='tools/model_converters/kmax2mmdense.py')), dst)
    return converted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official kMaX-DeepLab checkpoint to mmdense.')
    parser.add_argument('src', help='official checkpoint (.pth, or detectron2 .pkl)')
    parser.add_argument('dst', help='output path')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    converted = convert(args.src, args.dst)
    num = sum(v.numel() for v in converted.values())
    print(f'Saved {len(converted)} tensors ({num:,} values) to {args.dst}')


if __name__ == '__main__':
    main()
