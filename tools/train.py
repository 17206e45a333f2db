"""Train a model from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--tensorboard]
                                 [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

Works for mmdense-scope configs (``default_scope='mmdense'``) and mmpose-scope ones alike.
"""
import argparse
import logging
import os
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.logging import print_log


def parse_args():
    parser = argparse.ArgumentParser(description='Train a mmdense model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT; without a path, resume from the latest checkpoint in the '
             'work dir')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic mixed precision training')
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
    # torch.distributed.launch passes --local_rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


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
    from mmdense.utils.cli import check_data_roots, load_config

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

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            from mmdense.utils.cli import UserInputError
            raise UserInputError(f"checkpoint '{args.resume}' given to --resume does not exist.")
        cfg.resume = True
        cfg.load_from = args.resume

    names = ['train_dataloader']
    if cfg.get('val_cfg') and cfg.get('val_dataloader'):
        names.append('val_dataloader')
    check_data_roots(cfg, names)
    return cfg


def main():
    args = parse_args()

    import mmdense  # noqa: F401  (applies the upstream compatibility patches)
    from mmdense.utils import (
        adapt_cfg_amp_for_cpu,
        adapt_cfg_for_cpu_distributed,
        adapt_runner_for_cpu_distributed,
        register_all_modules,
        tune_cpu_allocator,
    )
    from mmdense.utils.cli import UserInputError

    tune_cpu_allocator()  # reuse freed activation pages instead of re-faulting them (CPU speed)

    try:
        cfg = build_cfg(args)
    except UserInputError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)

    if cfg.get('default_scope', 'mmdense') == 'mmdense':
        register_all_modules(init_default_scope=False)
    cpu_distributed = adapt_cfg_for_cpu_distributed(cfg)
    cpu_amp = adapt_cfg_amp_for_cpu(cfg)

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if cpu_amp:
        runner.logger.info('No CUDA device: mixed precision uses bf16 autocast on CPU.')
    if cpu_distributed:
        adapt_runner_for_cpu_distributed(runner)
        runner.logger.info('No CUDA device: distributed run uses the gloo backend on CPU '
                           '(SyncBN layers run as per-rank BN).')
    runner.train()


if __name__ == '__main__':
    main()
