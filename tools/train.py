"""Train a model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT|auto]] [--amp] [--auto-scale-lr]
                                 [--tensorboard] [--unsafe-load]
                                 [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

Works for mmdense-scope configs (``default_scope='mmdense'``) and mmpose-scope ones alike.
Every run gets the reliability hooks of :mod:`mmdense.engine.hooks` (stop at a non-finite
loss, crash-safe checkpoints, rank-0 buffers before validation, task consistency checks).
Foreseeable user errors end with one ``error: ...`` line and exit status 2.
"""
import argparse
import logging
import os
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.logging import print_log

# --resume without a value: the latest checkpoint of the work dir, which must exist.
RESUME_LATEST = 'latest'
# --resume auto: resume if possible, else start from scratch.
RESUME_AUTO = 'auto'


def parse_args():
    parser = argparse.ArgumentParser(description='Train a mmdense model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const=RESUME_LATEST, metavar='CKPT|auto',
        help='resume from CKPT; without a value, from the latest complete checkpoint of the '
             'work dir (an error if there is none); "auto": resume if the work dir has a '
             'checkpoint, otherwise start a new run')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true', default=False,
        help="scale the learning rate linearly to the actual total batch (GPUs x batch_size) "
             "against the config's auto_scale_lr.base_batch_size")
    parser.add_argument(
        '--tensorboard', action='store_true',
        help='also write the scalars as TensorBoard events (needs the tensorboard extra)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. train_cfg.max_iters=100; every key must exist '
             'in the config')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='load checkpoints (--resume, load_from, pretrained weights) with full unpickling. '
             'DANGEROUS: unpickling can run arbitrary code from the file; only for '
             'checkpoints you trust. Same as MMDENSE_UNSAFE_LOAD=1.')
    # torch.distributed.launch passes --local_rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def resolve_resume(cfg, resume):
    """Set ``cfg.resume``/``cfg.load_from`` for ``--resume`` (``None``, latest, auto or a path)."""
    from mmdense.engine.hooks import is_complete_checkpoint, latest_complete_checkpoint
    from mmdense.utils.cli import UserInputError

    if resume is None:
        return
    if resume in (RESUME_LATEST, RESUME_AUTO):
        ckpt = latest_complete_checkpoint(cfg.work_dir)
        if ckpt is None:
            if resume == RESUME_LATEST:
                raise UserInputError(
                    f"--resume: work dir '{cfg.work_dir}' has no complete checkpoint to resume "
                    'from. Give one with --resume CKPT, or use --resume auto to resume when '
                    'possible and start a new run otherwise.')
            print_log(f"--resume auto: work dir '{cfg.work_dir}' has no checkpoint yet; "
                      'starting a new run.', logger='current', level=logging.WARNING)
            cfg.resume = False
            return
    else:
        if not osp.isfile(resume):
            raise UserInputError(f"checkpoint '{resume}' given to --resume does not exist.")
        if not is_complete_checkpoint(resume):
            raise UserInputError(f"checkpoint '{resume}' given to --resume is truncated or not "
                                 'a checkpoint.')
        ckpt = resume
    cfg.resume = True
    cfg.load_from = ckpt


def add_tensorboard_backend(cfg):
    """Add mmengine's TensorboardVisBackend to the visualizer (events in <run>/vis_data)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError as e:
        from mmdense.utils.cli import UserInputError
        raise UserInputError("--tensorboard needs the tensorboard package: pip install -e "
                             "'.[tensorboard]'") from e
    visualizer = cfg.get('visualizer') or dict(type='Visualizer', name='visualizer')
    backends = list(visualizer.get('vis_backends') or [dict(type='LocalVisBackend')])
    if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))
    visualizer['vis_backends'] = backends
    cfg.visualizer = visualizer


def build_cfg(args):
    from mmdense.utils.cli import (
        check_data_roots,
        check_work_dir,
        fix_persistent_workers,
        load_config,
    )

    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.', logger='current',
                      level=logging.WARNING)
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.tensorboard:
        add_tensorboard_backend(cfg)

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            from mmdense.utils.cli import UserInputError
            raise UserInputError(
                f"--auto-scale-lr: config '{args.config}' has no auto_scale_lr.base_batch_size "
                '(the total batch its learning rate is meant for).')
        cfg.auto_scale_lr.enable = True

    check_work_dir(cfg.work_dir)
    resolve_resume(cfg, args.resume)
    for name in fix_persistent_workers(cfg):
        print_log(f'{name}: persistent_workers=True needs num_workers > 0; turned off.',
                  logger='current', level=logging.INFO)

    names = ['train_dataloader']
    if cfg.get('val_cfg') and cfg.get('val_dataloader'):
        names.append('val_dataloader')
    check_data_roots(cfg, names)
    return cfg


def main():
    args = parse_args()

    import mmdense  # noqa: F401  (applies the upstream compatibility patches)
    from mmdense.engine.hooks import NonFiniteLossError, install_reliability_hooks
    from mmdense.utils import (
        adapt_cfg_amp_for_cpu,
        adapt_cfg_for_cpu_distributed,
        adapt_runner_for_cpu_distributed,
        finish_distributed,
        register_all_modules,
        tune_cpu_allocator,
    )
    from mmdense.utils.checkpoint import CheckpointError, enable_unsafe_load
    from mmdense.utils.cli import (
        UserInputError,
        explain_download_error,
        explain_registry_error,
    )
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
    cpu_distributed = adapt_cfg_for_cpu_distributed(cfg)
    cpu_amp = adapt_cfg_amp_for_cpu(cfg)

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    try:
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        added = install_reliability_hooks(runner)
        if added:
            runner.logger.info(f'Reliability hooks added to the run: {", ".join(added)}')
        if cpu_amp:
            runner.logger.info('No CUDA device: mixed precision uses bf16 autocast on CPU.')
        if cpu_distributed:
            adapt_runner_for_cpu_distributed(runner)
            runner.logger.info('No CUDA device: distributed run uses the gloo backend on CPU '
                               '(SyncBN layers run as per-rank BN).')
        runner.train()
        finish_distributed()
    except NonFiniteLossError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
    except CheckpointError as e:  # unreadable/unsafe --resume, load_from or pretrained file
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    except (KeyError, OSError) as e:
        message = explain_registry_error(cfg, e) if isinstance(e, KeyError) else \
            explain_download_error(cfg, e)
        if message is None:
            raise
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
