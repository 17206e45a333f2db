"""Test (evaluate) a checkpoint.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl] [--show]
                         [--show-dir DIR] [--tta] [--cfg-options k=v ...] [--launcher ...]
                         [--allow-partial] [--unsafe-load]

The checkpoint must fit the model exactly: a missing or unexpected key, or a shape that
differs, stops the run with the list of what did not match (``--allow-partial`` loads what fits,
on purpose, with a warning listing the rest). It is read with the safe loader (no arbitrary
unpickling; ``--unsafe-load`` for a checkpoint you trust that needs it, see the README).

``--show-dir`` writes a picture per test image through the config's visualization hook:
mmseg's and mmdense's hooks (``draw``) and mmpose's (``enable``/``out_dir``) are handled.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from mmdense.utils.checkpoint import add_unsafe_load_argument


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a mmdense model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the evaluation log')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir', help='directory where painted images will be saved (a relative path '
                           'is taken inside the work dir)')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries; every key must exist in the config')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument(
        '--allow-partial', action='store_true',
        help='load a checkpoint that does not fit the model exactly: missing keys keep their '
             'initial values, unexpected keys and mismatched shapes are skipped (listed in a '
             'warning)')
    add_unsafe_load_argument(parser)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg, args):
    """Turn on the config's visualization hook for --show / --show-dir."""
    from mmdense.utils.cli import UserInputError

    hooks = cfg.get('default_hooks', {}) or {}
    hook = hooks.get('visualization')
    if hook is None:
        raise UserInputError(
            '--show/--show-dir need a visualization hook in default_hooks of the config.')
    show_dir = args.show_dir
    if show_dir and not osp.isabs(show_dir):
        show_dir = osp.join(cfg.work_dir, show_dir)
    if 'Pose' in str(hook.get('type', '')):
        hook['enable'] = True
        if show_dir:
            hook['out_dir'] = show_dir
    else:
        hook['draw'] = True
        # Draw every test image, not every 50th (the hooks' default interval).
        hook['interval'] = 1
        if show_dir:
            cfg.visualizer['save_dir'] = show_dir
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    return cfg


def check_checkpoint_on_load(runner, allow_partial: bool = False) -> None:
    """Make ``runner.load_checkpoint`` compare the checkpoint with the model before loading.

    mmengine loads ``load_from`` with ``strict=False`` and only logs what did not match, so a
    checkpoint of another model would be scored. Same steps as ``Runner.load_checkpoint``
    (mmengine 0.10.7), with the check in between.
    """
    from mmengine.model import is_model_wrapper
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

    from mmdense.utils.checkpoint import check_checkpoint_fits

    def load_checkpoint(filename, map_location='cpu', strict=False,
                        revise_keys=((r'^module\.', ''), )):
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        runner.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        check_checkpoint_fits(model, checkpoint, filename,
                              strict=strict or not allow_partial, revise_keys=revise_keys)
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict=False, revise_keys=list(revise_keys))
        runner._has_loaded = True
        runner.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    runner.load_checkpoint = load_checkpoint


def build_cfg(args):
    from mmdense.utils.cli import UserInputError, check_data_roots, load_config

    cfg = load_config(args.config, args.cfg_options)
    if not osp.isfile(args.checkpoint):
        raise UserInputError(f"checkpoint '{args.checkpoint}' does not exist.")
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
            raise UserInputError('--tta needs tta_pipeline and tta_model in the config.')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise UserInputError(f"--out '{args.out}' must be a .pkl or .pickle file.")
    check_data_roots(cfg, ['test_dataloader'])
    return cfg


def main():
    args = parse_args()

    import mmdense  # noqa: F401  (applies the upstream compatibility patches)
    from mmdense.utils import (
        adapt_cfg_for_cpu_distributed,
        adapt_runner_for_cpu_distributed,
        finish_distributed,
        register_all_modules,
        tune_cpu_allocator,
    )
    from mmdense.utils.checkpoint import CheckpointError, enable_unsafe_load
    from mmdense.utils.cli import UserInputError, explain_registry_error, fix_persistent_workers
    from mmdense.utils.task_consistency import TaskConsistencyError, check_task_consistency

    if args.unsafe_load:
        enable_unsafe_load()
    tune_cpu_allocator()  # reuse freed activation pages instead of re-faulting them (CPU speed)

    try:
        cfg = build_cfg(args)
    except UserInputError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)

    if cfg.get('default_scope', 'mmdense') == 'mmdense':
        register_all_modules(init_default_scope=False)
    try:
        check_task_consistency(cfg)
    except TaskConsistencyError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    fix_persistent_workers(cfg)
    cpu_distributed = adapt_cfg_for_cpu_distributed(cfg)

    from mmengine.evaluator import DumpResults
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    try:
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        if cpu_distributed:
            adapt_runner_for_cpu_distributed(runner)
        if args.out is not None:
            runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
        check_checkpoint_on_load(runner, allow_partial=args.allow_partial)
        runner.test()
        finish_distributed()
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    except KeyError as e:
        message = explain_registry_error(cfg, e)
        if message is None:
            raise
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
