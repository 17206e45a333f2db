"""Compare the loss balancers of configs/demt/balancing on the synthetic quick-start data.

    python tools/analysis_tools/mtl_compare.py [--methods NAME ...] [--seeds 0 1 2]
        [--iters 1500] [--data-root data/synthetic_nyud] [--crop-size H W] [--work-dir DIR]
        [--baselines single_task_baselines.json] [--cfg-options KEY=VALUE ...] [--resume]
        [--dry-run]

Every method (``configs/demt/balancing/nyud_hrnet_<NAME>.py``: its ``loss_balancer`` and
gradient clipping) is trained with ``tools/train.py`` on the quick-start config
(``configs/demt/quickstart_synthetic-nyud.py``, its schedule shortened to ``--iters``) once per
seed and validated at the end. Without ``--baselines`` the single-task baselines are trained
first (``tools/analysis_tools/mtl_baselines.py`` on the quick-start config, same iterations,
first seed). The table (``DIR/table.md``, printed) gives per method the mean and standard
deviation over the seeds of ``multitask/delta_m`` (%), the training time per iteration (mean
over the second half of the run, wall clock: on a shared machine it carries the load of the
other jobs) and its ratio to that of fixed weights, and the peak resident memory of the
training process, and flags a Delta_m difference from fixed weights as within noise when it is
smaller than twice the standard error of the difference. Runs go seed by seed (every method
for the first seed, then the next seed), so a sweep stopped early still compares all methods.

``--crop-size H W`` trains on crops of that size (default: the quick-start 96x128; use it with
data rendered at that size, ``make_synthetic_nyud.py --size H W``); ``--cfg-options`` overrides
any other setting of every generated config, the single-task ones included (e.g.
``train_dataloader.batch_size=2``). Every finished run leaves ``DIR/<method>_seed<seed>/
result.json`` and the table is rewritten after each run; ``--resume`` keeps the finished runs
(and the single-task baselines) of an interrupted sweep and trains only the others. It does
not check that they were made with the same options: resume with the command that started
the sweep, plus ``--resume``.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(REPO, 'configs', 'demt', 'quickstart_synthetic-nyud.py')
BALANCING = osp.join(REPO, 'configs', 'demt', 'balancing')


def all_methods() -> list[str]:
    names = [osp.basename(p)[len('nyud_hrnet_'):-3]
             for p in glob.glob(osp.join(BALANCING, 'nyud_hrnet_*.py'))]
    return sorted(names, key=lambda n: (n != 'fixed', n))


def _crop_lines(crop_size: tuple[int, int] | None) -> tuple[str, str]:
    """The ``model`` fields and the config lines that train on ``crop_size`` crops instead of
    the quick-start ones."""
    if crop_size is None:
        return '', 'train_dataloader = dict(dataset=dict(data_root=data_root))\n'
    from mmengine.config import Config

    crop = tuple(int(v) for v in crop_size)
    pipeline = Config.fromfile(QUICKSTART).train_pipeline
    for step in pipeline:
        # The quick-start crop reaches the pipeline in these two places only.
        if step['type'] == 'MultiTaskRandomCrop':
            step['crop_size'] = crop
        elif step['type'] == 'MultiTaskPad':
            step['size'] = crop
    return ('data_preprocessor=dict(size=crop_size), ',
            f'crop_size = {crop!r}\n'
            f'train_pipeline = {[dict(step) for step in pipeline]!r}\n'
            'train_dataloader = dict(dataset=dict(data_root=data_root, '
            'pipeline=train_pipeline))\n')


def run_config(method: str, seed: int, iters: int, data_root: str, baselines: dict | None,
               crop_size: tuple[int, int] | None = None) -> str:
    """Text of the quick-start config with ``method``'s balancer, ``seed`` and ``iters``
    (and ``crop_size`` training crops if given)."""
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(BALANCING, f'nyud_hrnet_{method}.py'))
    evaluator = dict(single_task_baselines=baselines) if baselines else {}
    model_fields, data_lines = _crop_lines(crop_size)
    return (f'_base_ = [{QUICKSTART!r}]\n'
            f'data_root = {data_root!r}\n'
            + data_lines +
            f'model = dict({model_fields}'
            f'loss_balancer={cfg.model.loss_balancer.to_dict()!r})\n'
            f"optim_wrapper = dict(clip_grad={cfg.optim_wrapper.get('clip_grad')!r})\n"
            'val_dataloader = dict(dataset=dict(data_root=data_root))\n'
            'test_dataloader = val_dataloader\n'
            f'val_evaluator = dict({", ".join(f"{k}={v!r}" for k, v in evaluator.items())})\n'
            f'randomness = dict(seed={seed})\n'
            'param_scheduler = [dict(type="PolyLR", power=0.9, eta_min=0, begin=0, '
            f'end={iters}, by_epoch=False)]\n'
            f'train_cfg = dict(max_iters={iters}, val_interval={iters})\n'
            f'default_hooks = dict(checkpoint=dict(interval={iters}))\n')


def write_config(path: str, text: str, cfg_options: dict | None) -> None:
    """Write the config ``text`` to ``path``, with ``cfg_options`` merged in if any."""
    with open(path, 'w') as f:
        f.write(text)
    if cfg_options:
        from mmengine.config import Config

        cfg = Config.fromfile(path)
        cfg.merge_from_dict(cfg_options)
        cfg.dump(path)


def read_run(work_dir: str) -> dict:
    """Final validation metrics and the mean time of the second half of the iterations."""
    [scalars] = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))[-1:]
    with open(scalars) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    times = [r['time'] for r in rows if 'time' in r and 'lr' in r]
    metrics = [r for r in rows if 'multitask/delta_m' in r or any('/' in k for k in r)]
    result = dict(metrics[-1]) if metrics else {}
    if times:
        half = times[len(times) // 2:]
        result['time'] = sum(half) / len(half)
    return result


def mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1)) if n > 1 else float('nan')
    return mean, std


def table(results: dict[str, list[dict]]) -> str:
    """Markdown table from ``{method: [run result per seed]}`` (``delta_m``, ``time``,
    ``memory`` keys)."""
    lines = ['| method | seeds | Δm (%) | vs fixed | time/iter (s) | time vs fixed '
             '| peak memory (MB) |', '|---|---|---|---|---|---|---|']
    ref = [r['delta_m'] for r in results.get('fixed', []) if r.get('delta_m') is not None]
    ref_time = [r['time'] for r in results.get('fixed', []) if r.get('time') is not None]
    for method, runs in results.items():
        dm = [r['delta_m'] for r in runs if r.get('delta_m') is not None]
        cells = [method, str(len(runs))]
        if dm:
            m, s = mean_std(dm)
            cells.append(f'{m:+.2f} ± {s:.2f}' if len(dm) > 1 else f'{m:+.2f}')
            if method == 'fixed' or len(dm) < 2 or len(ref) < 2:
                cells.append('-')
            else:
                mr, sr = mean_std(ref)
                se = math.sqrt(s**2 / len(dm) + sr**2 / len(ref))
                diff = m - mr
                cells.append(f'{diff:+.2f} ' + ('(within noise)' if abs(diff) < 2 * se
                                                 else '(beyond 2 s.e.)'))
        else:
            cells += ['n/a', '-']
        times = [r['time'] for r in runs if r.get('time') is not None]
        cells.append(f'{mean_std(times)[0]:.3f}' if times else 'n/a')
        cells.append(f'{mean_std(times)[0] / mean_std(ref_time)[0]:.2f}x'
                     if times and ref_time else 'n/a')
        memory = [r['memory'] for r in runs if r.get('memory') is not None]
        cells.append(f'{mean_std(memory)[0]:.0f}' if memory else 'n/a')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _train(config: str, work_dir: str, env: dict) -> float:
    """Run tools/train.py; return the peak resident memory of the process in MB."""
    proc = subprocess.Popen([sys.executable, 'tools/train.py', config, '--work-dir', work_dir],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(osp.join(work_dir, 'stderr.txt'), 'w'))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f'training {config} failed, see {work_dir}/stderr.txt')
    return usage.ru_maxrss / 1024.0  # KB on Linux


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--methods', nargs='+', default=None, help='default: all configs')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--iters', type=int, default=1500)
    parser.add_argument('--data-root', default='data/synthetic_nyud')
    parser.add_argument('--crop-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='training crop (default: the quick-start 96 128)')
    parser.add_argument('--work-dir', default='work_dirs/mtl_compare')
    parser.add_argument('--baselines', help='single_task_baselines.json of mtl_baselines.py')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every generated config')
    parser.add_argument('--resume', action='store_true',
                        help='keep the finished runs and baselines found in --work-dir')
    parser.add_argument('--dry-run', action='store_true', help='write the configs only')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    methods = args.methods or all_methods()
    unknown = [m for m in methods if m not in all_methods()]
    if unknown:
        print(f'error: no config for {unknown} in {BALANCING}', file=sys.stderr)
        return 2
    if args.crop_size and min(args.crop_size) < 32:
        print(f'error: --crop-size {args.crop_size}: HRNet needs at least 32x32',
              file=sys.stderr)
        return 2
    os.makedirs(args.work_dir, exist_ok=True)
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    data_root = osp.abspath(args.data_root)

    def config_text(method, seed, baselines):
        return run_config(method, seed, args.iters, data_root, baselines, args.crop_size)

    baselines = None
    out = osp.join(args.work_dir, 'baselines')
    baselines_file = args.baselines or osp.join(out, 'single_task_baselines.json')
    if args.baselines or (args.resume and osp.isfile(baselines_file)):
        with open(baselines_file) as f:
            baselines = json.load(f)
        print(f'single-task baselines from {baselines_file}', flush=True)
    elif not args.dry_run:
        base_cfg = osp.join(args.work_dir, 'quickstart_single.py')
        write_config(base_cfg, config_text('fixed', args.seeds[0], None), args.cfg_options)
        subprocess.run([sys.executable, 'tools/analysis_tools/mtl_baselines.py', base_cfg,
                        '--work-dir', out], cwd=REPO, env=env, check=True)
        with open(baselines_file) as f:
            baselines = json.load(f)

    results: dict[str, list[dict]] = {}
    header = (f'Quick-start synthetic NYUD, {args.iters} iterations, seeds {args.seeds}; '
              f'Δm against single-task baselines (seed {args.seeds[0]}).\n\n')
    # Seeds outermost: a sweep stopped early still compares every method on its first seeds.
    for seed in args.seeds:
        for method in methods:
            work = osp.join(args.work_dir, f'{method}_seed{seed}')
            done = osp.join(work, 'result.json')
            if args.resume and not args.dry_run and osp.isfile(done):
                with open(done) as f:
                    results.setdefault(method, []).append(json.load(f))
                print(f'[{method} seed {seed}] kept from {done}', flush=True)
                continue
            os.makedirs(work, exist_ok=True)
            config = osp.join(work, f'{method}_seed{seed}.py')
            write_config(config, config_text(method, seed, baselines), args.cfg_options)
            if args.dry_run:
                print(f'python tools/train.py {config} --work-dir {work}')
                continue
            print(f'[{method} seed {seed}] training', flush=True)
            memory = _train(config, work, env)
            run = read_run(work)
            result = dict(delta_m=run.get('multitask/delta_m'), time=run.get('time'),
                          memory=memory)
            with open(done, 'w') as f:
                json.dump(result, f)
            results.setdefault(method, []).append(result)
            # Rewritten after every run: an interrupted sweep leaves its partial table.
            with open(osp.join(args.work_dir, 'table.md'), 'w') as f:
                f.write(header + table(results) + '\n')
    if args.dry_run:
        return 0
    text = header + table(results)
    with open(osp.join(args.work_dir, 'table.md'), 'w') as f:
        f.write(text + '\n')
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
