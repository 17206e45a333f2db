"""Prepare PASCAL-Context for multi-task training (``PascalContextMultiTaskDataset``).

Sources (see data/README.md), both in the ASTMT layout read by mmdense:

* ``PASCALContext.tar.gz``, the ATRC release used by DeMT
  (https://data.vision.ee.ethz.ch/brdavid/atrc/PASCALContext.tar.gz);
* ``PASCAL_MT.tgz``, the ASTMT / Multi-Task-Learning-PyTorch release
  (https://data.vision.ee.ethz.ch/kmaninis/share/MTL/PASCAL_MT.tgz).

An archive is extracted to ``OUT_DIR/PASCALContext``; an extracted directory is linked, copied
or moved there. Every split is then indexed with ``PascalContextMultiTaskDataset`` (all files
of the five tasks must exist), a sample of images and labels is decoded (including the
``.mat`` files), and a summary is printed. Passing the prepared directory itself only
validates it.

Examples::

    python tools/dataset_converters/pascal_context_mt.py ~/Downloads/PASCALContext.tar.gz
    python tools/dataset_converters/pascal_context_mt.py /datasets/PASCAL_MT --mode symlink
    python tools/dataset_converters/pascal_context_mt.py data/PASCALContext --check -1
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
import sys
from collections.abc import Sequence

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _multitask_utils import (  # noqa: E402
    ConversionError,
    extract_archive,
    find_root,
    place_tree,
    print_summary,
    read_split,
    validate,
)

LAYOUT_DIRS = ('JPEGImages', 'semseg', 'human_parts', 'normals_distill', 'sal_distill',
               'pascal-context/trainval', 'ImageSets/Context')
MARKERS = ('JPEGImages', 'ImageSets/Context')


def check_layout(root: str) -> None:
    missing = [d for d in LAYOUT_DIRS if not osp.isdir(osp.join(root, d))]
    if missing:
        raise ConversionError(f'{root} lacks the folder(s) {missing} of the PASCAL-Context '
                              'multi-task release (PASCALContext.tar.gz / PASCAL_MT.tgz)')


def semseg_sources(root: str, splits: Sequence[str]) -> dict[str, int]:
    """How many semseg labels come from ``semseg/VOC12`` (preferred) and ``pascal-context``."""
    counts = {'VOC12': 0, 'pascal-context': 0}
    voc12 = osp.join(root, 'semseg', 'VOC12')
    voc12_names = set(os.listdir(voc12)) if osp.isdir(voc12) else set()
    for split in splits:
        for name in read_split(osp.join(root, 'ImageSets', 'Context', f'{split}.txt')):
            counts['VOC12' if f'{name}.png' in voc12_names else 'pascal-context'] += 1
    return counts


def describe(results: dict) -> dict:
    stats = {}
    if 'gt_semseg' in results:
        seg = results['gt_semseg']
        stats['semseg classes'] = set(np.unique(seg[seg != 255]).tolist())
    if 'gt_human_parts' in results:
        stats['human parts'] = bool((results['gt_human_parts'] != 255).any())
    if 'gt_normals' in results:
        stats['normals valid'] = float((np.abs(results['gt_normals']).sum(-1) > 0).mean())
    if 'gt_sal' in results:
        stats['salient'] = float(results['gt_sal'].mean())
    if 'gt_edge' in results:
        stats['edge pixels'] = float(results['gt_edge'].mean())
    return stats


FORMATTERS = {
    'semseg classes': lambda v: f'{len(set().union(*v))} of 21 seen',
    'human parts': lambda v: f'{sum(v)} of {len(v)} checked images have person parts',
    'normals valid': lambda v: f'{100 * np.mean(v):.1f}% pixels on NYUD-shared classes',
    'salient': lambda v: f'{100 * np.mean(v):.1f}% salient pixels',
    'edge pixels': lambda v: f'{100 * np.mean(v):.2f}% boundary pixels',
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Prepare and validate PASCAL-Context for mmdense multi-task training.')
    parser.add_argument('src', help='PASCALContext.tar.gz / PASCAL_MT.tgz, a directory '
                        'extracted from one, or the prepared directory (validation only)')
    parser.add_argument('--out-dir', default='data',
                        help='where PASCALContext/ is created (default: data)')
    parser.add_argument('--mode', choices=('symlink', 'copy', 'move'), default='symlink',
                        help='how an extracted directory is placed (default: symlink); '
                        'archives are always extracted')
    parser.add_argument('--check', type=int, default=20,
                        help='samples per split to decode (-1: all, 0: none; default 20)')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from mmdense.datasets import PascalContextMultiTaskDataset

    dst = osp.join(args.out_dir, 'PASCALContext')
    staging = None
    try:
        if osp.isfile(args.src):
            staging = osp.join(args.out_dir, '.pascal_context_extract')
            if osp.lexists(dst):
                raise ConversionError(f'{dst} already exists; remove it first, or pass it as the '
                                      'source to only validate it')
            root = find_root(extract_archive(args.src, staging), MARKERS)
            check_layout(root)
            place_tree(root, dst, 'move')
        elif osp.isdir(args.src):
            root = find_root(args.src, MARKERS)
            check_layout(root)
            if not (osp.lexists(dst) and osp.realpath(root) == osp.realpath(dst)):
                place_tree(root, dst, args.mode)
        else:
            raise ConversionError(f'{args.src} does not exist')
        split_dir = osp.join(dst, 'ImageSets', 'Context')
        splits = sorted(f[:-4] for f in os.listdir(split_dir) if f.endswith('.txt'))
        sources = semseg_sources(dst, splits)
        report = validate(PascalContextMultiTaskDataset, dst, splits, args.check, describe)
    except ConversionError as e:
        print(f'ERROR: {e}', file=sys.stderr)
        return 1
    finally:
        if staging is not None and osp.isdir(staging):
            shutil.rmtree(staging)
    print_summary('PASCAL-Context', dst, report, FORMATTERS)
    print(f'  semseg labels: {sources["pascal-context"]} from semseg/pascal-context, '
          f'{sources["VOC12"]} from semseg/VOC12 (preferred when present, as in the official '
          'loader)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
