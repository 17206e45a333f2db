"""Plot training curves from the scalars that mmengine's LocalVisBackend writes.

    python tools/analysis_tools/analyze_logs.py plot_curve LOG [LOG ...] [--keys K ...]
        [--out curves.png] [--title TITLE]

LOG is a ``scalars.json`` (``work_dirs/<run>/<timestamp>/vis_data/scalars.json``) or a work
dir, in which every ``*/vis_data/scalars.json`` is read in timestamp order (a resumed run
continues its curve). Training rows (with ``iter``) give the losses against the iteration,
validation rows (with ``step``) the metrics. Multi-task runs get one row of plots per task: a
task's losses (``loss_<task>``) on the left, its metrics (``<task>/<metric>``) on the right;
the total loss and any key of no task go to a first row. Per-class metrics (``IoU.wall``) are
left out unless named with ``--keys``; several LOGs are drawn on the same axes.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os.path as osp
import re
import sys

# Logged with every iteration but not curves of the model.
NOT_CURVES = {'lr', 'data_time', 'time', 'iter', 'step', 'epoch', 'memory', 'base_lr'}
PER_CLASS = re.compile(r'\.[^\d]')  # IoU.wall, Acc.bed; not normals/11.25
OVERALL = 'overall'


class LogError(ValueError):
    """A log file that cannot be read, or a key that is not in it."""


def find_scalar_files(path: str) -> list[str]:
    """The scalars.json files of ``path`` (a file, or a work dir searched one level down)."""
    if osp.isfile(path):
        return [path]
    if osp.isdir(path):
        files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
        if osp.isfile(osp.join(path, 'vis_data', 'scalars.json')):
            files.append(osp.join(path, 'vis_data', 'scalars.json'))
        if files:
            return files
        raise LogError(f"no */vis_data/scalars.json under '{path}'")
    raise LogError(f"'{path}' does not exist")


def load_scalars(path: str) -> tuple[list[dict], list[dict]]:
    """Read a run's scalars: (training rows with ``iter``, validation rows with ``step``)."""
    train, val = [], []
    for file in find_scalar_files(path):
        with open(file) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise LogError(f'{file}:{lineno}: not a JSON object ({e.msg})') from e
                if not isinstance(row, dict):
                    raise LogError(f'{file}:{lineno}: not a JSON object')
                if 'iter' in row:
                    train.append(row)
                elif 'step' in row:
                    val.append(row)
    if not train and not val:
        raise LogError(f"'{path}' holds no scalars")
    return train, val


def task_of(key: str, tasks: set[str]) -> str:
    """The task a key belongs to: ``semseg/mIoU`` and ``loss_semseg`` -> ``semseg``."""
    if '/' in key:
        return key.split('/', 1)[0]
    tokens = re.split(r'[^A-Za-z0-9]+', key)
    for task in sorted(tasks):
        if task in tokens:
            return task
    return OVERALL


def group_keys(train: list[dict], val: list[dict],
               keys: list[str] | None = None) -> dict[str, tuple[list[str], list[str]]]:
    """Group the curves by task: ``{task: (loss keys, metric keys)}``, ``overall`` first.

    Args:
        train: Training rows.
        val: Validation rows.
        keys: Only these keys (each must be in the log); default: every loss and every metric
            but the per-class ones.

    Returns:
        dict: Tasks in order of first appearance (``overall`` first when it has curves).
    """
    loss_keys = list(dict.fromkeys(k for r in train for k in r if k not in NOT_CURVES))
    metric_keys = list(dict.fromkeys(k for r in val for k in r if k not in NOT_CURVES))
    if keys:
        missing = [k for k in keys if k not in loss_keys and k not in metric_keys]
        if missing:
            raise LogError(f'keys {missing} are not in the log; it has '
                           f'{sorted(set(loss_keys) | set(metric_keys))}')
        loss_keys = [k for k in loss_keys if k in keys]
        metric_keys = [k for k in metric_keys if k in keys]
    else:
        metric_keys = [k for k in metric_keys if not PER_CLASS.search(k.split('/')[-1])]
    tasks = {k.split('/', 1)[0] for k in metric_keys if '/' in k}
    groups: dict[str, tuple[list[str], list[str]]] = {OVERALL: ([], [])}
    for k in loss_keys:
        groups.setdefault(task_of(k, tasks), ([], []))[0].append(k)
    for k in metric_keys:
        groups.setdefault(task_of(k, tasks), ([], []))[1].append(k)
    if not any(groups[OVERALL]):
        del groups[OVERALL]
    return groups


def _series(rows: list[dict], key: str, x: str) -> tuple[list, list]:
    pts = [(r[x], r[key]) for r in rows
           if key in r and isinstance(r[key], (int, float)) and not math.isnan(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_curve(logs: list[str], out: str, keys: list[str] | None = None,
               title: str | None = None) -> dict[str, tuple[list[str], list[str]]]:
    """Draw the curves of ``logs`` to the PNG ``out``; returns the groups drawn (first log's)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    runs = [(log, *load_scalars(log)) for log in logs]
    groups = group_keys(runs[0][1], runs[0][2], keys)
    if not groups:
        raise LogError(f"no loss or metric curves in '{logs[0]}'")
    fig, axes = plt.subplots(len(groups), 2, figsize=(12, 3.2 * len(groups)), squeeze=False)
    for row, (task, (losses, metrics)) in zip(axes, groups.items()):
        for ax, names, x, kind in ((row[0], losses, 'iter', 'loss'),
                                   (row[1], metrics, 'step', 'metric')):
            ax.set_title(f'{task}: {kind}')
            ax.set_xlabel('iteration')
            if not names:
                ax.set_axis_off()
                continue
            for log, train, val in runs:
                rows = train if x == 'iter' else val
                prefix = f'{osp.basename(osp.normpath(log))}: ' if len(runs) > 1 else ''
                for name in names:
                    xs, ys = _series(rows, name, x)
                    ax.plot(xs, ys, marker='o' if len(xs) < 20 else None, markersize=3,
                            label=prefix + name)
            ax.grid(alpha=0.3)
            ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return groups


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Analyze training logs (vis_data/scalars.json)')
    sub = parser.add_subparsers(dest='command', required=True)
    plot = sub.add_parser('plot_curve', help='plot loss and metric curves to a PNG')
    plot.add_argument('logs', nargs='+', help='scalars.json files or work dirs')
    plot.add_argument('--keys', nargs='+', help='only these keys (default: losses and metrics)')
    plot.add_argument('--out', default='curves.png', help='output PNG (default: curves.png)')
    plot.add_argument('--title', help='figure title')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        groups = plot_curve(args.logs, args.out, args.keys, args.title)
    except LogError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    for task, (losses, metrics) in groups.items():
        print(f'{task}: {", ".join(losses + metrics)}')
    print(f'curves written to {args.out}')


if __name__ == '__main__':
    main()
