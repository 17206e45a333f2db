"""Helpers shared by the NYUD-v2 and PASCAL-Context multi-task dataset converters."""
from __future__ import annotations

import os
import os.path as osp
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterable

import numpy as np


class ConversionError(RuntimeError):
    """A problem with the input archive or directory, explained for the user."""


def extract_archive(archive: str, dest: str) -> str:
    """Extract a ``.tar.gz`` / ``.tgz`` / ``.tar`` / ``.zip`` archive into ``dest``.

    Returns:
        str: ``dest``.
    """
    os.makedirs(dest, exist_ok=True)
    print(f'extracting {archive} into {dest} ...', flush=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _check_member_path(name, archive)
                zf.extractall(dest)
        else:
            with tarfile.open(archive) as tf:
                if hasattr(tarfile, 'data_filter'):
                    tf.extractall(dest, filter='data')
                else:
                    for member in tf.getmembers():
                        _check_member_path(member.name, archive)
                    tf.extractall(dest)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise ConversionError(f'cannot extract {archive}: {e} (is the download complete?)') from e
    return dest


def _check_member_path(name: str, archive: str) -> None:
    if osp.isabs(name) or '..' in name.replace('\\', '/').split('/'):
        raise ConversionError(f'{archive}: refusing to extract the unsafe path {name!r}')


def find_root(top: str, markers: Iterable[str], max_depth: int = 3) -> str:
    """The directory under ``top`` (``top`` included) that holds every path of ``markers``."""
    markers = list(markers)
    found = []
    for dirpath, dirnames, _ in os.walk(top):
        rel = osp.relpath(dirpath, top)
        depth = 0 if rel == '.' else rel.count(os.sep) + 1
        if all(osp.exists(osp.join(dirpath, m)) for m in markers):
            found.append(dirpath)
            dirnames.clear()
        elif depth >= max_depth:
            dirnames.clear()
    if not found:
        raise ConversionError(f'no directory under {top} contains {markers}; is this the right '
                              'archive? (see data/README.md)')
    if len(found) > 1:
        raise ConversionError(f'several dataset directories under {top}: {found}')
    return found[0]


def place_tree(src: str, dst: str, mode: str) -> None:
    """Make ``dst`` the dataset directory ``src`` by a symlink, a copy or a move."""
    if osp.lexists(dst):
        raise ConversionError(f'{dst} already exists; remove it first, or pass it as the source '
                              'to only validate it')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    if mode == 'symlink':
        os.symlink(osp.abspath(src), dst, target_is_directory=True)
    elif mode == 'copy':
        print(f'copying {src} to {dst} ...', flush=True)
        shutil.copytree(src, dst)
    elif mode == 'move':
        shutil.move(src, dst)
    else:
        raise ValueError(f'unknown mode {mode!r}')
    print(f'{dst} -> {src} (symlink)' if mode == 'symlink' else f'{mode}: {src} -> {dst}')


def read_split(path: str) -> list[str]:
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def validate(dataset_cls: type, data_root: str, splits: Iterable[str], num_check: int,
             describe: Callable[[dict], dict] | None = None) -> dict:
    """Index every split with ``dataset_cls`` (all files must exist) and decode some samples.

    Args:
        dataset_cls: the mmdense dataset class.
        data_root: the dataset directory.
        splits: split names.
        num_check: samples per split to decode (images and every label): a positive number
            checks evenly spaced samples, ``-1`` all of them, 0 none.
        describe: ``results -> {stat name: value}`` collected on every decoded sample.

    Returns:
        dict: per split, ``num`` and the lists of the described statistics.
    """
    report = {}
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadMultiTaskAnnotations')]
    for split in splits:
        try:
            ds = dataset_cls(data_root=data_root, split=split, pipeline=pipeline)
        except (FileNotFoundError, ValueError) as e:
            raise ConversionError(str(e)) from e
        stats: dict = {'num': len(ds)}
        if num_check:
            count = len(ds) if num_check < 0 else min(num_check, len(ds))
            indices = np.unique(np.linspace(0, len(ds) - 1, count).round().astype(int))
            print(f'[{split}] decoding {len(indices)} of {len(ds)} samples ...', flush=True)
            for k, idx in enumerate(indices):
                try:
                    results = ds[int(idx)]
                except Exception as e:  # report which sample, whatever went wrong
                    raise ConversionError(f'[{split}] sample {idx}: {e}') from e
                stats.setdefault('image_size', []).append(results['img'].shape[:2])
                for key, value in (describe(results) if describe else {}).items():
                    stats.setdefault(key, []).append(value)
                if (k + 1) % 500 == 0:
                    print(f'  {k + 1} / {len(indices)}', flush=True)
        report[split] = stats
    return report


def print_summary(title: str, data_root: str, report: dict,
                  formatters: dict[str, Callable[[list], str]]) -> None:
    print(f'\n{title} at {data_root}: OK')
    for split, stats in report.items():
        print(f'  {split}: {stats["num"]} samples')
        if 'image_size' in stats:
            sizes = sorted(set(stats['image_size']))
            shown = ', '.join(f'{h}x{w}' for h, w in sizes[:4])
            more = f' (+{len(sizes) - 4} more)' if len(sizes) > 4 else ''
            print(f'    checked {len(stats["image_size"])}: image sizes {shown}{more}')
        for key, fmt in formatters.items():
            if key in stats:
                print(f'    {key}: {fmt(stats[key])}')
