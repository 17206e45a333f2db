"""Stop training at the first non-finite loss, before anything is saved."""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from mmdense.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the run was stopped before saving."""


def _as_float(value) -> float | None:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean()) if value.numel() else None
    if isinstance(value, (int, float)):
        return float(value)
    return None


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` at the first iteration whose loss is NaN or infinite.

    Without it a diverged run keeps training on NaN weights, saves them (and with
    ``max_keep_ckpts`` the rotation deletes the last good checkpoint), validates to ``nan`` and
    exits 0. The hook runs right after the iteration, before the checkpoint and logger hooks
    (priority ``VERY_HIGH`` against their ``VERY_LOW``/``BELOW_NORMAL``), so the diverged state is
    never written. The error names the iteration and every non-finite loss term. In a
    distributed run the ranks agree (one all-reduce of a flag) so all of them stop together.

    Args:
        interval: check every ``interval`` iterations (1: every iteration; the check costs one
            scalar read per loss term).
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'NonFiniteLossHook: interval must be >= 1, got {interval}')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Mapping | None = None) -> None:
        if not isinstance(outputs, Mapping) or not self.every_n_train_iters(runner,
                                                                           self.interval):
            return
        bad = {}
        for name, value in outputs.items():
            if 'loss' not in name:
                continue
            number = _as_float(value)
            if number is not None and not math.isfinite(number):
                bad[name] = number
        if get_world_size() > 1:
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag)
            if flag.item() == 0:
                return
        elif not bad:
            return
        terms = ', '.join(f'{k}={v}' for k, v in bad.items()) or 'on another rank'
        last = runner.message_hub.get_info('last_ckpt')
        saved = f'the last checkpoint, {last}, was saved before' if last else \
            'no checkpoint was saved'
        message = (f'non-finite loss at iteration {runner.iter + 1}: {terms}. Training stopped '
                   f'before saving this state ({saved}). Lower the learning rate, check the '
                   'labels, or enable gradient clipping (optim_wrapper.clip_grad).')
        runner.logger.error(message)
        raise NonFiniteLossError(message)
