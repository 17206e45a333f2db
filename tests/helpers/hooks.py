"""Hooks used only by the end-to-end tests (imported through ``custom_imports``)."""
import os
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class CrashAfterIterHook(Hook):
    """Raise after training iteration ``iter`` (1-based), to simulate a crash."""

    def __init__(self, iter: int):
        self.iter = iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iter:
            raise RuntimeError(f'simulated crash after iteration {self.iter}')


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """Save every rank's final parameters to ``work_dir/rank{r}_weights.pth``.

    Parameters only: BN running statistics are per rank unless SyncBN runs on CUDA.
    """

    def after_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        state = {k: v.detach().cpu() for k, v in model.named_parameters()}
        torch.save(state, osp.join(runner.work_dir, f'rank{get_rank()}_weights.pth'))
        os.sync()
