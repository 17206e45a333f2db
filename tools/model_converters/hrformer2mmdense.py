"""Convert an official HRFormer (HRT) checkpoint (HRNet/HRFormer) to mmdense's
``OfficialHRFormer`` (MMPose's ``HRFormer`` layout).

Usage::

    python tools/model_converters/hrformer2mmdense.py hrt_small.pth hrformer-s_mmdense.pth \
        [--unsafe-load]

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

The file is read with the safe loader; mmcv 1.x checkpoints that also pickle their ``meta``
(config text, hook messages) need ``--unsafe-load``, only for files from a source you trust.

The official pose models never add their relative position bias (the tables are inert), so
evaluate converted pose checkpoints with ``extra.with_rpe=False`` (the configs in
``configs/hrformer/`` do); the segmentation models add it (``with_rpe=True``).
"""
from __future__ import annotations

import argparse
import sys

from mmdense.models.backbones.hrformer_checkpoint import (
    convert_hrformer_state_dict,
    official_state_dict_from_checkpoint,
)
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
    state_dict = official_state_dict_from_checkpoint(load_checkpoint_file(src, unsafe=unsafe), src)
    try:
        converted = convert_hrformer_state_dict(state_dict)
    except ValueError as err:
        raise CheckpointError(f'{src}: {err}') from err
    save_converted_checkpoint(converted, dst, src, 'tools/model_converters/hrformer2mmdense.py')
    return converted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official HRFormer (HRT) checkpoint to the mmdense '
                    'OfficialHRFormer.')
    parser.add_argument('src', help='official checkpoint (HRNet/HRFormer)')
    parser.add_argument('dst', help='output path')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        converted = convert(args.src, args.dst, unsafe=args.unsafe_load or None)
    except (CheckpointError, FileNotFoundError) as err:
        return conversion_failed('hrformer2mmdense', err)
    print(summarize_conversion(converted, args.dst))
    return 0


if __name__ == '__main__':
    sys.exit(main())
