"""Prepare NYUD-v2 for multi-task training (``NYUDv2MultiTaskDataset``) and validate it.

Sources (see data/README.md):

* ``NYUDv2.tar.gz``, the ATRC release used by DeMT
  (https://data.vision.ee.ethz.ch/brdavid/atrc/NYUDv2.tar.gz): already in the mmdense layout;
  it is extracted (or, for an extracted directory, linked / copied / moved) to
  ``OUT_DIR/NYUDv2``;
* ``NYUD_MT.tgz``, the Multi-Task-Learning-PyTorch release (JPEG images, ``.npy`` boundaries
  and normals): converted to the mmdense layout (images to PNG, boundaries to 0/255 PNG,
  normals to 8-bit RGB PNG ``v = round((n + 1) / 2 * 255)``).

Then every split is indexed with ``NYUDv2MultiTaskDataset`` (all files must exist) and a
sample of images and labels is decoded; a summary is printed. Passing the prepared directory
itself (``data/NYUDv2``) only validates it.

Examples::

    python tools/dataset_converters/nyud_v2.py ~/Downloads/NYUDv2.tar.gz
    python tools/dataset_converters/nyud_v2.py /datasets/NYUDv2 --mode symlink
    python tools/dataset_converters/nyud_v2.py data/NYUDv2 --check -1   # validate everything
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

LAYOUT_DIRS = ('images', 'segmentation', 'depth', 'normals', 'edge', 'gt_sets')


def detect_format(root: str) -> str:
    """``'atrc'`` (PNG images and labels) or ``'mtl'`` (JPEG images, ``.npy`` labels)."""
    missing = [d for d in LAYOUT_DIRS if not osp.isdir(osp.join(root, d))]
    if missing:
        raise ConversionError(f'{root} lacks the folder(s) {missing} of a NYUD-v2 multi-task '
                              'release')
    suffixes = {d: {osp.splitext(f)[1] for f in os.listdir(osp.join(root, d))}
                for d in ('images', 'normals', 'edge')}
    if '.png' in suffixes['images'] and '.png' in suffixes['normals'] \
            and '.png' in suffixes['edge']:
        return 'atrc'
    if '.jpg' in suffixes['images'] and '.npy' in suffixes['normals'] \
            and '.npy' in suffixes['edge']:
        return 'mtl'
    raise ConversionError(f'{root}: unrecognised NYUD-v2 release (file types {suffixes})')


def convert_mtl(src: str, dst: str, accept_invalid_normals: bool) -> None:
    """Write the NYUD_MT release ``src`` in the mmdense layout at ``dst``."""
    from PIL import Image

    if osp.lexists(dst):
        raise ConversionError(f'{dst} already exists; remove it first')
    ids = sorted({i for f in os.listdir(osp.join(src, 'gt_sets')) if f.endswith('.txt')
                  for i in read_split(osp.join(src, 'gt_sets', f))})
    for d in LAYOUT_DIRS:
        os.makedirs(osp.join(dst, d), exist_ok=True)
    max_err, invalid_normals = 0., 0
    print(f'converting {len(ids)} NYUD_MT samples from {src} to {dst} ...', flush=True)
    def src_file(folder: str, name: str, suffix: str) -> str:
        path = osp.join(src, folder, name + suffix)
        if not osp.isfile(path):
            raise ConversionError(f'missing file {path} (listed in {src}/gt_sets)')
        return path

    for k, name in enumerate(ids):
        with Image.open(src_file('images', name, '.jpg')) as img:
            img.convert('RGB').save(osp.join(dst, 'images', name + '.png'))
        shutil.copyfile(src_file('segmentation', name, '.png'),
                        osp.join(dst, 'segmentation', name + '.png'))
        depth = np.load(src_file('depth', name, '.npy'))
        np.save(osp.join(dst, 'depth', name + '.npy'), np.squeeze(depth).astype(np.float32))

        normals_file = src_file('normals', name, '.npy')
        normals = np.load(normals_file).astype(np.float64)
        if normals.ndim != 3 or normals.shape[2] != 3:
            raise ConversionError(f'{normals_file}: expected HxWx3 normals, got {normals.shape}')
        invalid_normals += int((np.abs(normals).sum(-1) == 0).sum())
        encoded = np.clip(np.round((normals + 1.) / 2. * 255.), 0, 255).astype(np.uint8)
        max_err = max(max_err, float(np.abs(2. * encoded / 255. - 1. - normals).max()))
        Image.fromarray(encoded).save(osp.join(dst, 'normals', name + '.png'))

        edge_file = src_file('edge', name, '.npy')
        edge = np.squeeze(np.load(edge_file))
        if not np.isin(edge, (0, 1)).all():
            raise ConversionError(f'{edge_file}: boundaries must be 0/1, found '
                                  f'{np.unique(edge)[:10]}')
        Image.fromarray((edge * 255).astype(np.uint8)).save(osp.join(dst, 'edge', name + '.png'))
        if (k + 1) % 200 == 0:
            print(f'  {k + 1} / {len(ids)}', flush=True)
    for f in os.listdir(osp.join(src, 'gt_sets')):
        shutil.copyfile(osp.join(src, 'gt_sets', f), osp.join(dst, 'gt_sets', f))
    print(f'normals quantised to 8 bits: max abs error {max_err:.4f} per component')
    if invalid_normals:
        msg = (f'{invalid_normals} normal pixels are zero vectors (invalid); 8-bit PNG cannot '
               'encode them, so they become tiny valid vectors.')
        if not accept_invalid_normals:
            shutil.rmtree(dst)
            raise ConversionError(msg + ' Use the ATRC NYUDv2.tar.gz release instead, or pass '
                                  '--accept-invalid-normals to convert anyway.')
        print('WARNING: ' + msg)


def describe(results: dict) -> dict:
    stats = {}
    if 'gt_semseg' in results:
        seg = results['gt_semseg']
        stats['semseg classes'] = set(np.unique(seg[seg != 255]).tolist())
        stats['semseg ignored'] = float((seg == 255).mean())
    if 'gt_depth' in results:
        depth = results['gt_depth']
        valid = depth[depth > 0]
        stats['depth (m)'] = (float(valid.min()) if valid.size else 0.,
                              float(valid.max()) if valid.size else 0., float((depth == 0).mean()))
    if 'gt_edge' in results:
        stats['edge pixels'] = float(results['gt_edge'].mean())
    return stats


FORMATTERS = {
    'semseg classes': lambda v: f'{len(set().union(*v))} of 40 seen',
    'semseg ignored': lambda v: f'{100 * np.mean(v):.1f}% unlabeled pixels',
    'depth (m)': lambda v: (f'{min(x[0] for x in v):.2f} .. {max(x[1] for x in v):.2f}, '
                            f'{100 * np.mean([x[2] for x in v]):.1f}% invalid'),
    'edge pixels': lambda v: f'{100 * np.mean(v):.2f}% boundary pixels',
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Prepare and validate NYUD-v2 for mmdense multi-task training.')
    parser.add_argument('src', help='NYUDv2.tar.gz / NYUD_MT.tgz, or a directory extracted '
                        'from one, or the prepared directory itself (validation only)')
    parser.add_argument('--out-dir', default='data',
                        help='where NYUDv2/ is created (default: data)')
    parser.add_argument('--mode', choices=('symlink', 'copy', 'move'), default='symlink',
                        help='how an already extracted ATRC directory is placed (default: '
                        'symlink); archives are always extracted')
    parser.add_argument('--check', type=int, default=20,
                        help='samples per split to decode (-1: all, 0: none; default 20)')
    parser.add_argument('--accept-invalid-normals', action='store_true',
                        help='convert NYUD_MT normals even if some are zero vectors')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from mmdense.datasets import NYUDv2MultiTaskDataset

    dst = osp.join(args.out_dir, 'NYUDv2')
    staging = None
    try:
        if osp.isfile(args.src):
            staging = osp.join(args.out_dir, '.nyud_v2_extract')
            if osp.lexists(dst):
                raise ConversionError(f'{dst} already exists; remove it first, or pass it as the '
                                      'source to only validate it')
            root = find_root(extract_archive(args.src, staging), ['gt_sets', 'images'])
            if detect_format(root) == 'atrc':
                place_tree(root, dst, 'move')
            else:
                convert_mtl(root, dst, args.accept_invalid_normals)
        elif osp.isdir(args.src):
            root = find_root(args.src, ['gt_sets', 'images'])
            fmt = detect_format(root)
            if osp.lexists(dst) and osp.realpath(root) == osp.realpath(dst):
                if fmt != 'atrc':
                    raise ConversionError(f'{dst} is not in the mmdense layout (it looks like '
                                          'NYUD_MT); convert it to another --out-dir')
            elif fmt == 'atrc':
                place_tree(root, dst, args.mode)
            else:
                convert_mtl(root, dst, args.accept_invalid_normals)
        else:
            raise ConversionError(f'{args.src} does not exist')
        splits = sorted(f[:-4] for f in os.listdir(osp.join(dst, 'gt_sets'))
                        if f.endswith('.txt'))
        report = validate(NYUDv2MultiTaskDataset, dst, splits, args.check, describe)
    except ConversionError as e:
        print(f'ERROR: {e}', file=sys.stderr)
        return 1
    finally:
        if staging is not None and osp.isdir(staging):
            shutil.rmtree(staging)
    print_summary('NYUD-v2', dst, report, FORMATTERS)
    return 0


if __name__ == '__main__':
    sys.exit(main())
