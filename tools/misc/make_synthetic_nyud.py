"""Render a small synthetic dataset in the NYUD-v2 multi-task layout (images, segmentation,
depth, normals, edge, gt_sets); the renderer is :mod:`mmdense.datasets.synthetic_nyud`, whose
docstring gives the layout and conventions.

Example::

    python tools/misc/make_synthetic_nyud.py data/synthetic_nyud --num-train 200 --num-val 50
"""
from __future__ import annotations

import argparse

from mmdense.datasets.synthetic_nyud import DEFAULT_SIZE, write_dataset

__all__ = ['write_dataset', 'parse_args', 'main']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Render a synthetic multi-task dataset in the NYUD-v2 layout '
                    '(images, segmentation, depth, normals, edge, gt_sets).')
    parser.add_argument('out_dir', help='output folder (created if missing)')
    parser.add_argument('--num-train', type=int, default=200, help='training images')
    parser.add_argument('--num-val', type=int, default=50, help='validation images')
    parser.add_argument('--size', type=int, nargs=2, default=list(DEFAULT_SIZE),
                        metavar=('H', 'W'), help='image height and width')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    names = write_dataset(args.out_dir, args.num_train, args.num_val, args.size, args.seed)
    print(f'Wrote {len(names)} samples ({args.num_train} train, {args.num_val} val) of '
          f'{args.size[0]}x{args.size[1]} to {args.out_dir}')


if __name__ == '__main__':
    main()
