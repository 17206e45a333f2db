"""Single-task baselines of a multi-task config, for Delta_m.

    python tools/analysis_tools/mtl_baselines.py CONFIG [--work-dir DIR] [--dry-run]
        [--collect] [--gpus N] [--metrics main|all] [--cfg-options KEY=VALUE ...]

From a multi-task config (``model.type='MultiTaskEncoderDecoder'``) it derives one config per
task: the same backbone, neck, schedule and data, with the head, losses, datasets and metric
restricted to that task (and no loss balancer). It writes them to ``DIR/<task>/``, then

* without ``--dry-run``: trains (``tools/train.py``) and tests (``tools/test.py``) each one,
  one after the other, and collects the results;
* with ``--dry-run``: prints the train/test commands (``tools/dist_train.sh`` and
  ``tools/dist_test.sh`` with ``--gpus N`` > 1) to run on a cluster, and the ``--collect``
  command to run once they are done;
* with ``--collect``: only reads the test metrics of the runs already in ``DIR``.

Collecting writes ``DIR/single_task_baselines.json`` and ``DIR/<config>_delta_m.py``, a config
that inherits CONFIG and gives ``single_task_baselines`` to its val/test ``MultiTaskMetric``,
so training or testing it reports ``multitask/delta_m``. ``--metrics main`` (default) keeps
the usual Delta_m metric of each task (semseg/human_parts mIoU, sal maxF, depth rmse, normals
mean angle, edge odsF); ``all`` keeps every metric the test reports.
"""
from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAIN_METRICS = dict(semseg=['mIoU'], human_parts=['mIoU'], sal=['maxF'], depth=['rmse'],
                    normals=['mean'], edge=['odsF'])


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='multi-task config file')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/<config>_single)')
    parser.add_argument('--dry-run', action='store_true',
                        help='write the configs and print the commands, do not run them')
    parser.add_argument('--collect', action='store_true',
                        help='only collect the test metrics of finished runs')
    parser.add_argument('--gpus', type=int, default=1,
                        help='GPUs per run in the printed/run commands (>1: dist_*.sh)')
    parser.add_argument('--metrics', choices=['main', 'all'], default='main',
                        help='baseline metrics per task (default: the usual Delta_m ones)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of CONFIG (before the derivation)')
    return parser.parse_args(argv)


def _restrict(mapping, task):
    return {k: v for k, v in mapping.items() if k == task}


def single_task_config(cfg, task: str):
    """``cfg`` (a multi-task Config) restricted to ``task``."""
    cfg = copy.deepcopy(cfg)
    model = cfg.model
    model.pop('loss_balancer', None)
    model.decode_head.tasks = [task]
    for key in ('task_channels', ):
        if isinstance(model.decode_head.get(key), dict):
            model.decode_head[key] = _restrict(model.decode_head[key], task)
    model.losses = _restrict(model.losses, task)
    if 'tasks' in cfg:
        cfg.tasks = [task]
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader and 'tasks' in loader.get('dataset', {}):
            loader.dataset.tasks = [task]
    for name in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(name)
        if not evaluator:
            continue
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            if 'tasks' in metric:
                metric.tasks = [task]
                metric.pop('single_task_baselines', None)
                for key in ('num_classes', 'class_names'):
                    if isinstance(metric.get(key), dict):
                        metric[key] = _restrict(metric[key], task)
    return cfg


def tasks_of(cfg) -> list[str]:
    model = cfg.get('model', {})
    if (model.get('type') != 'MultiTaskEncoderDecoder'
            or 'tasks' not in model.get('decode_head', {})):
        raise ValueError('the config is not a multi-task model (model.type='
                         "'MultiTaskEncoderDecoder' with decode_head.tasks).")
    return list(model.decode_head.tasks)


def commands(config: str, work_dir: str, gpus: int, python: str = sys.executable
             ) -> tuple[list[str], list[str]]:
    """The train command and the test command (its checkpoint read from ``last_checkpoint``)."""
    if gpus > 1:
        train = ['bash', 'tools/dist_train.sh', config, str(gpus), '--work-dir', work_dir]
        test = ['bash', 'tools/dist_test.sh', config, '{checkpoint}', str(gpus)]
    else:
        train = [python, 'tools/train.py', config, '--work-dir', work_dir]
        test = [python, 'tools/test.py', config, '{checkpoint}']
    return train, test + ['--work-dir', osp.join(work_dir, 'test')]


def last_checkpoint(work_dir: str) -> str:
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{work_dir} has no last_checkpoint: the training did not finish')
    with open(path) as f:
        return f.read().strip()


def test_metrics(work_dir: str) -> dict:
    """Metrics of the latest ``tools/test.py`` run logged under ``work_dir/test``."""
    logs = sorted(glob.glob(osp.join(work_dir, 'test', '*', '*.json')))
    if not logs:
        raise FileNotFoundError(f'no test results under {osp.join(work_dir, "test")}: run the '
                                'test command first')
    with open(logs[-1]) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return lines[-1]


def baselines_from(metrics_by_task: dict, which: str) -> dict:
    from mmdense.evaluation.functional.multitask import HIGHER_IS_BETTER

    baselines = {}
    for task, metrics in metrics_by_task.items():
        found = {k.split('/', 1)[1]: float(v) for k, v in metrics.items()
                 if k.startswith(f'{task}/') and isinstance(v, (int, float))}
        if which == 'main' and task in MAIN_METRICS:
            names = [m for m in MAIN_METRICS[task] if m in found]
        else:
            names = [m for m in found if m in HIGHER_IS_BETTER]
        if not names:
            raise ValueError(f'the {task} test reported none of the baseline metrics '
                             f'({sorted(found)})')
        baselines[task] = {m: found[m] for m in names}
    return baselines


def write_outputs(config: str, work_dir: str, baselines: dict) -> str:
    with open(osp.join(work_dir, 'single_task_baselines.json'), 'w') as f:
        json.dump(baselines, f, indent=2)
    stem = osp.splitext(osp.basename(config))[0]
    out = osp.join(work_dir, f'{stem}_delta_m.py')
    base = osp.relpath(osp.abspath(config), osp.abspath(work_dir))
    with open(out, 'w') as f:
        f.write(f'# {osp.basename(config)} with the single-task baselines measured by '
                'tools/analysis_tools/mtl_baselines.py: reports multitask/delta_m.\n'
                f'_base_ = [{base!r}]\n'
                f'single_task_baselines = {baselines!r}\n'
                'val_evaluator = dict(single_task_baselines=single_task_baselines)\n'
                'test_evaluator = dict(single_task_baselines=single_task_baselines)\n')
    return out


def main(argv=None):
    args = parse_args(argv)
    import mmdense  # noqa: F401  (applies the upstream compatibility patches)
    from mmdense.utils.cli import UserInputError, load_config

    try:
        cfg = load_config(args.config, args.cfg_options)
        tasks = tasks_of(cfg)
    except (UserInputError, ValueError) as e:
        print(f'error: {args.config}: {e}', file=sys.stderr)
        return 2
    stem = osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join('work_dirs', f'{stem}_single')
    runs = {}
    for task in tasks:
        task_dir = osp.join(work_dir, task)
        os.makedirs(task_dir, exist_ok=True)
        path = osp.join(task_dir, f'{stem}_{task}.py')
        if not args.collect:
            single_task_config(cfg, task).dump(path)
        runs[task] = (path, task_dir)

    if args.dry_run:
        print(f'# single-task baselines of {args.config}: {len(tasks)} runs, from the '
              f'repository root ({REPO})')
        for path, task_dir in runs.values():
            train, test = commands(path, task_dir, args.gpus, python='python')
            print(' '.join(train))
            ckpt = f'$(cat {osp.join(task_dir, "last_checkpoint")})'
            print(' '.join(test).replace('{checkpoint}', ckpt))
        print(f'python tools/analysis_tools/mtl_baselines.py {args.config} --work-dir '
              f'{work_dir} --collect')
        return 0

    if not args.collect:
        env = dict(os.environ)
        env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
        for task, (path, task_dir) in runs.items():
            train, test = commands(path, task_dir, args.gpus)
            for cmd in (train, test):
                cmd = [a.replace('{checkpoint}', last_checkpoint(task_dir)) for a in cmd] \
                    if cmd is test else cmd
                print(f'[{task}] ' + ' '.join(cmd), flush=True)
                if subprocess.run(cmd, cwd=REPO, env=env).returncode != 0:
                    print(f'error: the {task} run failed: ' + ' '.join(cmd), file=sys.stderr)
                    return 1

    try:
        metrics = {task: test_metrics(task_dir) for task, (_, task_dir) in runs.items()}
        baselines = baselines_from(metrics, args.metrics)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    out = write_outputs(args.config, work_dir, baselines)
    print(f'single_task_baselines = {baselines!r}')
    print(f'wrote {osp.join(work_dir, "single_task_baselines.json")} and {out} '
          '(train or test it to get multitask/delta_m)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
