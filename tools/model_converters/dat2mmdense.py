"""Convert an official DAT v1 ImageNet checkpoint (LeapLabTHU/DAT) into an mmdense backbone.

DAT++ checkpoints (ImageNet ``dat_pp_*_in1k_224.pth`` or the LeapLabTHU/DAT-Segmentation
releases) are recognised by their keys and converted for ``DATPlusPlus`` instead, see
``mmdense/models/backbones/dat_pp_checkpoint.py``.

Usage::

    python tools/model_converters/dat2mmdense.py dat_tiny_in1k_224.pth dat-t_in1k_mmdense.pth \
        [--unsafe-load]

SRC is a checkpoint of ``models/dat.py`` (LeapLabTHU/DAT @ 797f187f): a dict with the weights
under ``model`` (the official release) or ``state_dict``, or a bare state dict. DST holds
``{'state_dict': ..., 'meta': ...}`` for ``DAT(arch=...)``; load it with
``init_cfg=dict(type='Pretrained', checkpoint=DST)``.

What changes:

- keys are renamed to the mmdense layout (``patch_proj`` -> ``patch_embed``, per-stage
  ``layer_norms``/``mlps``/``attns`` -> ``blocks.<i>.norm1/norm2/ffn/attn``, ``down_projs`` ->
  ``downsamples``), the 1x1 convolutions of the deformable attention become linear weights;
- the classifier (``cls_norm``, ``cls_head``) is dropped;
- the buffers ``relative_position_index`` and ``attn_mask`` are dropped: the official shift
  masks are fixed to the 224x224 input, while mmdense builds the masks for the actual input
  size on the fly and rebuilds the index from the window size, so nothing input-size dependent
  is stored;
- the output norms ``norm0``-``norm3`` of ``DAT(out_norm=True)`` are not in ImageNet
  checkpoints and keep their identity initialisation (as in the official segmentation code).

The relative position tables are kept as they are; they match ``DAT(pretrain_img_size=224)``.
"""
from __future__ import annotations

import argparse
import sys

from mmdense.models.backbones.dat_checkpoint import (
    convert_dat_state_dict,
    official_state_dict_from_checkpoint,
)
from mmdense.models.backbones.dat_pp_checkpoint import (
    convert_datpp_state_dict,
    is_datpp_state_dict,
)
from mmdense.utils.checkpoint import (
    CheckpointError,
    add_unsafe_load_argument,
    conversion_failed,
    load_checkpoint_file,
    save_converted_checkpoint,
    summarize_conversion,
)


def load_official_checkpoint(path: str, unsafe: bool | None = None) -> dict:
    """Load ``path`` on CPU with the safe loader (``--unsafe-load`` for the official training
    checkpoints that also pickle their yacs config)."""
    return load_checkpoint_file(path, unsafe=unsafe)


def convert(src: str, dst: str, unsafe: bool | None = None) -> dict:
    """Convert the checkpoint ``src`` and save it to ``dst``; returns the converted weights."""
    state_dict = official_state_dict_from_checkpoint(load_official_checkpoint(src, unsafe), src)
    try:
        if is_datpp_state_dict(state_dict):
            converted = convert_datpp_state_dict(state_dict)
        else:
            converted = convert_dat_state_dict(state_dict)
    except ValueError as err:
        raise CheckpointError(f'{src}: {err}') from err
    save_converted_checkpoint(converted, dst, src, 'tools/model_converters/dat2mmdense.py')
    return converted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official DAT v1 ImageNet checkpoint to an mmdense DAT backbone.')
    parser.add_argument('src', help='official checkpoint (LeapLabTHU/DAT)')
    parser.add_argument('dst', help='output path')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        converted = convert(args.src, args.dst, unsafe=args.unsafe_load or None)
    except (CheckpointError, FileNotFoundError) as err:
        return conversion_failed('dat2mmdense', err)
    print(summarize_conversion(converted, args.dst))
    return 0


if __name__ == '__main__':
    sys.exit(main())
