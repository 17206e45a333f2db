"""Every workaround mmdense needs to run OpenMMLab 2.x (released 2023-2024) on today's stack.

This is the only place that adapts upstream behaviour. It is applied once, on ``import mmdense``
(see :func:`apply_all`), never by editing site-packages. Each patch says why it exists and when
it can go. Build-time fixes (C++20 for mmcv's ops, source builds under numpy 2) are in
``tools/install.sh``.
"""
from __future__ import annotations

import logging

import torch

_APPLIED = False


def _safe_local_checkpoint_loading() -> None:
    """Load mmengine's local checkpoints safely under torch >= 2.6, mmengine's own included.

    Why: torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7 passes
    nothing, so its own checkpoints (``HistoryBuffer``, numpy scalars and arrays in the message
    hub and meta) fail with "Unsupported global: GLOBAL mmengine.logging.history_buffer...", and
    ``--resume`` breaks. Loading them with ``weights_only=False`` would let any checkpoint run
    code.

    What: the local-file scheme of mmengine's ``CheckpointLoader`` (used by ``load_checkpoint``,
    ``Runner.resume``/``load_from`` and ``init_cfg=dict(type='Pretrained')``) and its download
    helper ``load_url`` (``http(s)://``, ``open-mmlab://``, ``torchvision://``, which torch.hub
    loads with ``weights_only=False``) read through
    :func:`mmdense.utils.checkpoint.load_checkpoint_file`: ``weights_only=True`` with those
    few harmless globals allow-listed, full unpickling only with the explicit ``--unsafe-load``
    / ``MMDENSE_UNSAFE_LOAD=1`` opt-in, and one-line errors naming the file otherwise.

    Remove when: mmengine passes ``weights_only`` itself (onedl-mmengine >= 0.10.12 does) and
    allow-lists its own globals.
    """
    from mmengine.runner import checkpoint as mmengine_checkpoint

    from .checkpoint import load_checkpoint_file, load_url_checkpoint

    def load_from_local(filename: str, map_location=None):
        return load_checkpoint_file(filename, map_location=map_location)

    mmengine_checkpoint.CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    # Downloaded weights (http(s)://, open-mmlab://, torchvision://) go through mmengine's
    # module-level `load_url`, i.e. torch.hub's loader with weights_only=False.
    mmengine_checkpoint.load_url = load_url_checkpoint


def _cpu_distributed_init() -> None:
    """Let ``--launcher pytorch`` run on a machine without CUDA (gloo backend).

    Why: mmengine 0.10.7's ``_init_dist_pytorch`` always calls ``torch.cuda.set_device``, which
    raises without a GPU, so a distributed launch cannot be debugged on a laptop or CI.

    What: when CUDA is unavailable, initialise the process group with gloo and skip the device
    selection; with CUDA, mmengine's own function runs unchanged.

    Remove when: mmengine initialises CPU process groups itself.
    """
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils

    original = dist_utils._init_dist_pytorch
    if getattr(original, '_mmdense_patched', False):
        return

    def init_dist_pytorch(backend, init_backend='torch', **kwargs) -> None:
        if torch.cuda.is_available():
            return original(backend, init_backend=init_backend, **kwargs)
        if backend != 'gloo':
            logging.getLogger('mmdense').warning(
                'CUDA is not available: using the gloo backend instead of %s.', backend)
        torch_dist.init_process_group(backend='gloo', **kwargs)

    init_dist_pytorch._mmdense_patched = True
    dist_utils._init_dist_pytorch = init_dist_pytorch


def adapt_cfg_for_cpu_distributed(cfg, logger=None) -> bool:
    """Adapt a config so a distributed launch works on CPU. Called by the launch tools.

    Why: on CPU, gloo is the only backend, and mmengine wraps the model with
    ``device_ids=[LOCAL_RANK]``, which ``DistributedDataParallel`` rejects for CPU modules.

    Remove when: mmengine picks the backend and device ids from the device itself.

    Returns:
        bool: whether the config was changed (a distributed launch on a CPU-only machine).
    """
    if torch.cuda.is_available() or cfg.get('launcher', 'none') == 'none':
        return False
    cfg.setdefault('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if logger is not None:
        logger.info('No CUDA device: distributed run uses the gloo backend on CPU.')
    return True


def _mmpose_bfloat16_to_numpy() -> None:
    """Let MMPose heads log their accuracy under bf16 autocast.

    Why: mmpose 1.3.2's ``to_numpy`` calls ``Tensor.numpy()``, which has no bfloat16; heatmap
    heads convert their predictions to compute the accuracy they log, so a pose config trained
    with :class:`CPUAmpOptimWrapper` (bf16) fails in its first step. fp16 (CUDA AMP) is fine.

    What: bfloat16 tensors (alone or in a list/tuple) become float32 before the conversion; the
    mmpose modules already imported that bound the function by name get the wrapped one. Called
    by :func:`adapt_cfg_amp_for_cpu` for mmpose-scope configs only.

    Remove when: mmpose converts bfloat16 itself.
    """
    import sys

    import mmpose.models  # noqa: F401  (binds `to_numpy` in the heads)
    from mmpose.utils import tensor_utils

    original = tensor_utils.to_numpy
    if getattr(original, 'mmdense_bfloat16', False):
        return

    def upcast(x):
        return x.float() if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16 else x

    def to_numpy(x, *args, **kwargs):
        x = type(x)(upcast(t) for t in x) if isinstance(x, (list, tuple)) else upcast(x)
        return original(x, *args, **kwargs)

    to_numpy.mmdense_bfloat16 = True
    for name, module in list(sys.modules.items()):
        if name.startswith('mmpose') and getattr(module, 'to_numpy', None) is original:
            module.to_numpy = to_numpy


def adapt_cfg_amp_for_cpu(cfg, logger=None) -> bool:
    """Run an ``AmpOptimWrapper`` config on a machine without CUDA with bf16 autocast.

    Why: mmengine 0.10.7's ``AmpOptimWrapper`` asserts that a GPU/NPU/MLU is present, so configs
    with mixed precision (kMaX-DeepLab's, or ``--amp``) cannot even start on CPU.

    What: the wrapper becomes mmdense's ``CPUAmpOptimWrapper`` (``torch.autocast('cpu',
    bfloat16)``, no loss scaling); with CUDA nothing changes.

    Remove when: mmengine's AmpOptimWrapper supports CPU autocast.

    Returns:
        bool: whether the config was changed.
    """
    optim_wrapper = cfg.get('optim_wrapper')
    if torch.cuda.is_available() or not optim_wrapper:
        return False
    if optim_wrapper.get('type') not in ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper'):
        return False
    # built in the mmdense scope: a `mmdense.` type prefix is not found from the mmpose scope of
    # the pose configs (mmdense's registries are not children of mmengine's root)
    optim_wrapper['type'] = 'CPUAmpOptimWrapper'
    optim_wrapper['_scope_'] = 'mmdense'
    optim_wrapper.pop('loss_scale', None)
    if cfg.get('default_scope') == 'mmpose':
        _mmpose_bfloat16_to_numpy()
    if logger is not None:
        logger.info('No CUDA device: mixed precision uses bf16 autocast on CPU.')
    return True


def adapt_runner_for_cpu_distributed(runner) -> None:
    """Replace SyncBN layers by BN in a CPU distributed run (after the Runner is built).

    Why: ``nn.SyncBatchNorm`` only synchronises CUDA tensors and raises on CPU once a process
    group exists, yet the paper configs (DeMT, UperNet...) use SyncBN. On CPU each rank then
    keeps its own batch statistics, which is what a debugging run needs.

    Remove when: torch's SyncBatchNorm supports the gloo backend.
    """
    from mmengine.model import revert_sync_batchnorm

    module = getattr(runner.model, 'module', runner.model)
    revert_sync_batchnorm(module)


def finish_distributed() -> None:
    """End a distributed run cleanly: wait for every rank, then close the process group.

    Why: mmengine 0.10.7 never destroys its process group. The rank that finishes first (a
    non-zero rank, which skips the checkpoint write) then exits while gloo's threads are still
    running, and the process can abort with "terminate called without an active exception"
    (SIGABRT), which fails the whole launch after a successful run.

    Remove when: mmengine's Runner destroys the process group at the end of ``train``/``test``.
    """
    import torch.distributed as torch_dist

    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def apply_all() -> None:
    """Apply every patch once. Called by ``import mmdense``."""
    global _APPLIED
    if _APPLIED:
        return
    _safe_local_checkpoint_loading()
    _cpu_distributed_init()
    _APPLIED = True


__all__ = ['apply_all', 'finish_distributed', 'adapt_cfg_amp_for_cpu',
           'adapt_cfg_for_cpu_distributed', 'adapt_runner_for_cpu_distributed']
