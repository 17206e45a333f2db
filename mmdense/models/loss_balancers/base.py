"""Base class of the multi-task loss balancers and their distributed helpers.

Design
------
A balancer is a model component, set in the config of a multi-task model::

    model = dict(loss_balancer=dict(type='PCGrad'))

and built into the model (``model.loss_balancer``). It replaces the last step of the loss
computation, ``parse_losses``: it receives the per-task losses ``{'loss_<task>': value}`` and
returns the scalar the optim wrapper back-propagates, plus the values to log.

Why in the model and not in an optim wrapper: ``tools/train.py --amp`` (and mmengine users)
swap the optim wrapper type for ``AmpOptimWrapper``, and the per-task losses never reach the
optim wrapper (``update_params`` gets one scalar). ``parse_losses`` is the one place that sees
the per-task losses both in ``BaseModel.train_step`` and in ``MMDistributedDataParallel.
train_step``, so a balancer there works unchanged with any optim wrapper (fp32, fp16 loss
scaling, bf16), gradient accumulation (``accumulative_counts``, whose loss division and
``no_sync`` stay the optim wrapper's) and DDP. Learnable balancer state (log-variances,
GradNorm weights) is then made of model parameters: the model's optimizer trains it, DDP
synchronises it and checkpoints save it.

Gradient-surgery methods still end with the optim wrapper's single ``backward``: they first
compute the per-task gradients with ``torch.autograd.grad`` (which does not fire DDP's
reduction hooks), all-reduce them, compute the combination coefficients, and return a
surrogate loss whose gradient is the surgery's result (see :class:`BaseGradientBalancer`).

Distributed semantics: everything a balancer decides (weights, coefficients, random draws) is
computed from quantities averaged over the ranks (losses, task gradients or their Gram
matrix), so every rank applies the same update, equal to that of one process holding the
whole batch. With ``accumulative_counts=k`` each micro-batch is balanced on its own (over all
ranks) and the ``k`` results are averaged, as one process with the same accumulation does.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor


def world_size() -> int:
    """Number of ranks of the default process group (1 outside distributed runs)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """Mean of ``tensor`` over the ranks (a copy; the tensor itself outside DDP)."""
    size = world_size()
    if size == 1:
        return tensor
    tensor = tensor.detach().clone()
    dist.all_reduce(tensor)
    return tensor / size


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum of ``tensor`` over the ranks (a copy; the tensor itself outside DDP)."""
    if world_size() == 1:
        return tensor
    tensor = tensor.detach().clone()
    dist.all_reduce(tensor)
    return tensor


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """``tensor`` of rank ``src`` on every rank."""
    if world_size() > 1:
        dist.broadcast(tensor, src)
    return tensor


class BaseLossBalancer(BaseModule):
    """Combines per-task losses into the loss the optim wrapper back-propagates.

    Subclasses implement :meth:`balance`. The model calls :meth:`bind` once (in its
    ``__init__``, before the optimizer is built, so that learnable state is optimised) and
    :meth:`forward` from its ``parse_losses``.

    Logged values (``log_vars``, so the training log shows them every logging interval and the
    visualizer backends receive them): every loss as before, ``loss`` (the balanced
    objective), ``w_<task>`` (the weight or combination coefficient of each task) and whatever
    the method adds (gradient norms ``gnorm_<task>``, cosines ``cos_<task>_<task>``).
    """

    def __init__(self, init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.loss_names: list[str] = []

    @property
    def num_tasks(self) -> int:
        return len(self.loss_names)

    def task_name(self, i: int) -> str:
        name = self.loss_names[i]
        return name[len('loss_'):] if name.startswith('loss_') else name

    def bind(self, model: nn.Module, loss_names: Sequence[str]) -> None:
        """Attach to ``model``, whose ``loss`` returns one entry per name of ``loss_names``."""
        if not loss_names:
            raise ValueError(f'{type(self).__name__}: a loss balancer needs at least one loss.')
        self.loss_names = list(loss_names)

    def forward(self, losses: dict, model: nn.Module) -> tuple[Tensor, dict[str, Tensor]]:
        """Balanced loss and log variables, the ``parse_losses`` contract of mmengine."""
        log_vars: OrderedDict[str, Tensor] = OrderedDict()
        for name, value in losses.items():
            if isinstance(value, Tensor):
                log_vars[name] = value.mean()
            elif isinstance(value, (list, tuple)) and all(isinstance(v, Tensor) for v in value):
                log_vars[name] = sum(v.mean() for v in value)
            else:
                raise TypeError(f'{name} is not a tensor or list of tensors')
        names = [n for n in log_vars if 'loss' in n]
        if names != self.loss_names:
            raise ValueError(f'{type(self).__name__}: the model returned the losses {names}, '
                             f'but the balancer was bound to {self.loss_names}.')
        terms = [log_vars[n] for n in names]
        loss, objective, extra = self.balance(terms, model)
        log_vars['loss'] = objective.detach()
        log_vars.move_to_end('loss', last=False)
        log_vars.update(extra)
        return loss, log_vars

    def balance(self, losses: list[Tensor], model: nn.Module
                ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Return the loss to back-propagate, the objective value to log and extra log values.

        Args:
            losses: the scalar task losses, in the order of ``loss_names``.
            model: the multi-task model (not its DDP wrapper).
        """
        raise NotImplementedError

    def weight_logs(self, weights: Tensor, prefix: str = 'w') -> dict[str, Tensor]:
        weights = weights.detach().float().cpu()
        return {f'{prefix}_{self.task_name(i)}': weights[i] for i in range(self.num_tasks)}

    def global_loss_values(self, losses: list[Tensor]) -> Tensor:
        """Detached task losses averaged over the ranks (float32, ``(T,)``)."""
        return all_reduce_mean(torch.stack([v.detach().float() for v in losses]))
