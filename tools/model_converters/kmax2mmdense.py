"""Convert an official kMaX-DeepLab checkpoint (bytedance/kmax-deeplab) to mmdense.

Usage::

    python tools/model_converters/kmax2mmdense.py kmax_r50.pth kmax_r50_mmdense.pth [--unsafe-load]

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
  ``mmdense/models/segmentors/kmax_deeplab_checkpoint.py``;
- the detectron2 ResNet (``stem``, ``res2``-``res5``, ``shortcut``) becomes mmseg's ``ResNet``
  (``conv1``/``bn1``, ``layer1``-``layer4``, ``downsample``); ConvNeXt
  (``downsample_layers``, ``stages.i.j.dwconv``/``pwconv1``...) becomes timm's layout used by
  ``TimmConvNeXt`` (``stem``, ``stages.i.downsample``, ``stages.i.blocks.j.conv_dw``/``mlp.fc1``);
- ``pixel_mean``/``pixel_std`` buffers are dropped (the data preprocessor normalises);
- nothing input-size dependent exists in the checkpoints (the official axial-attention distance
  tables are not saved), so the converted model runs at any input size.

``.pth`` files are read with torch's safe loader and ``.pkl`` files with an unpickler that only
rebuilds numpy arrays; anything else (a detectron2 ``.pth`` that pickles trainer objects) needs
``--unsafe-load``, only for files from a source you trust.
"""
from __future__ import annotations

import argparse
import sys

from mmdense.models.segmentors.kmax_deeplab_checkpoint import convert_kmax_state_dict
from mmdense.utils.checkpoint import (
    CheckpointError,
    add_unsafe_load_argument,
    conversion_failed,
    find_state_dict,
    load_checkpoint_file,
    save_converted_checkpoint,
    summarize_conversion,
)


def load_official_checkpoint(path: str, unsafe: bool | None = None) -> dict:
    """Load a ``.pth``/``.pkl`` checkpoint and return its flat weight dict (tensors)."""
    return find_state_dict(load_checkpoint_file(path, unsafe=unsafe), path,
                           keys=('model', 'state_dict'), strip_prefix=None)


def convert(src: str, dst: str, unsafe: bool | None = None) -> dict:
    """Convert ``src`` and save it to ``dst``; returns the converted weights."""
    state_dict = load_official_checkpoint(src, unsafe)
    try:
        converted = convert_kmax_state_dict(state_dict)
    except KeyError as err:
        raise CheckpointError(f'{src}: {err.args[0]}') from err
    save_converted_checkpoint(converted, dst, src, 'tools/model_converters/kmax2mmdense.py')
    return converted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official kMaX-DeepLab checkpoint to mmdense.')
    parser.add_argument('src', help='official checkpoint (.pth, or detectron2 .pkl)')
    parser.add_argument('dst', help='output path')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        converted = convert(args.src, args.dst, unsafe=args.unsafe_load or None)
    except (CheckpointError, FileNotFoundError) as err:
        return conversion_failed('kmax2mmdense', err)
    print(summarize_conversion(converted, args.dst))
    return 0


if __name__ == '__main__':
    sys.exit(main())
