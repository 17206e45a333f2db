"""Loss-weighting balancers: the update is the gradient of a weighted combination of losses.

They cost nothing beyond the usual single backward pass (GradNorm, which needs gradient
norms, is in :mod:`.gradient`).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdense.registry import MODELS
from mmdense.structures import TASK_SPECS

from .base import BaseLossBalancer


def _weights_for(names: list[str], weights: dict | Sequence | None, what: str) -> list[float]:
    tasks = [n[len('loss_'):] if n.startswith('loss_') else n for n in names]
    if weights is None:
        return [1.0] * len(names)
    if isinstance(weights, dict):
        unknown = [k for k in weights if k not in tasks]
        if unknown:
            raise ValueError(f'{what}: weights for unknown tasks {unknown}; tasks are {tasks}')
        return [float(weights.get(t, 1.0)) for t in tasks]
    if len(weights) != len(names):
        raise ValueError(f'{what}: {len(weights)} weights for {len(names)} tasks {tasks}')
    return [float(w) for w in weights]


@MODELS.register_module()
class FixedWeights(BaseLossBalancer):
    """Fixed task weights: ``L = sum_i w_i L_i`` (today's behaviour of every config).

    Without ``weights`` the losses are summed exactly as mmengine's ``BaseModel.parse_losses``
    sums them, so training is bit-for-bit the same as without a balancer. The per-task
    ``loss_weight`` of the loss configs applies first in every case.

    Args:
        weights: ``{task: weight}`` (missing tasks: 1) or one weight per task, in order.
    """

    def __init__(self, weights: dict | Sequence[float] | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.weights_cfg = weights
        self.weights: list[float] | None = None

    def bind(self, model: nn.Module, loss_names: Sequence[str]) -> None:
        super().bind(model, loss_names)
        if self.weights_cfg is not None:
            self.weights = _weights_for(self.loss_names, self.weights_cfg, 'FixedWeights')

    def balance(self, losses, model):
        if self.weights is None:
            loss = sum(losses)
            return loss, loss, {}
        loss = sum(w * v for w, v in zip(self.weights, losses))
        return loss, loss, self.weight_logs(torch.tensor(self.weights))


@MODELS.register_module()
class UncertaintyWeighting(BaseLossBalancer):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

    With learnable ``s_i = log sigma_i^2`` (initialised to 0):
    ``L = sum_i c_i exp(-s_i) L_i + s_i / 2``, ``c_i = 1/2`` for a regression task (Eq. 7 of
    the paper: ``1/(2 sigma^2) L + log sigma``) and ``c_i = 1`` for a classification task
    (Eq. 10: ``1/sigma^2 L + log sigma``). The ``s_i`` are model parameters
    (``loss_balancer.log_vars``), trained by the model's optimizer (give them their own
    learning rate with ``paramwise_cfg=dict(custom_keys={'loss_balancer': ...})``).

    Args:
        classification: tasks with the classification form. Default ``'auto'``: the tasks
            with a categorical or Bernoulli likelihood, i.e. whose prediction is a label or a
            probability (semseg, human_parts, sal, edge); ``()``: all regression (as LibMTL).
    """

    def __init__(self, classification: str | Sequence[str] = 'auto',
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.classification = classification
        self.log_vars = nn.Parameter(torch.zeros(0))
        self.register_buffer('factors', torch.zeros(0), persistent=False)

    def bind(self, model, loss_names):
        super().bind(model, loss_names)
        tasks = [self.task_name(i) for i in range(self.num_tasks)]
        if self.classification == 'auto':
            cls = [t for t in tasks
                   if t in TASK_SPECS and TASK_SPECS[t].pred in ('label', 'prob')]
        else:
            cls = list(self.classification)
            unknown = [t for t in cls if t not in tasks]
            if unknown:
                raise ValueError(f'UncertaintyWeighting: classification tasks {unknown} are '
                                 f'not tasks of the model {tasks}')
        self.log_vars = nn.Parameter(torch.zeros(self.num_tasks))
        self.factors = torch.tensor([1.0 if t in cls else 0.5 for t in tasks])

    def balance(self, losses, model):
        s = self.log_vars
        weights = self.factors.to(s) * torch.exp(-s)
        loss = sum(weights[i] * losses[i] + 0.5 * s[i] for i in range(self.num_tasks))
        logs = self.weight_logs(weights)
        logs.update({f'logvar_{self.task_name(i)}': s[i].detach().cpu()
                     for i in range(self.num_tasks)})
        return loss, loss, logs


@MODELS.register_module()
class DWA(BaseLossBalancer):
    """Dynamic Weight Average (Liu, Johns & Davison, "End-to-End Multi-Task Learning with
    Attention", CVPR 2019, Eq. 7).

    ``w_k(t) = K exp(r_k(t-1) / T) / sum_i exp(r_i(t-1) / T)``, ``r_k(t-1) = L_k(t-1) /
    L_k(t-2)``, where ``L_k(t)`` is the average loss of task ``k`` over period ``t`` (an epoch
    in the paper) and ``w = 1`` for the first two periods. The averages are taken over the
    ranks, so every rank uses the same weights.

    Args:
        temperature: ``T``, 2 in the paper.
        period: iterations per period (micro-batches with ``accumulative_counts``). Default
            100: one epoch of NYUD-v2 (795 images) at DeMT's total batch of 8.
    """

    def __init__(self, temperature: float = 2.0, period: int = 100,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if period < 1:
            raise ValueError(f'DWA period must be >= 1 iteration, got {period}')
        self.temperature = temperature
        self.period = period
        self.register_buffer('history', torch.zeros(0))  # (2, T): periods t-2, t-1
        self.register_buffer('running', torch.zeros(0))
        self.register_buffer('counts', torch.zeros(2, dtype=torch.long))  # periods, iters

    def bind(self, model, loss_names):
        super().bind(model, loss_names)
        self.history = torch.zeros(2, self.num_tasks)
        self.running = torch.zeros(self.num_tasks)

    def current_weights(self) -> Tensor:
        """Weights for the current period from the stored history."""
        if int(self.counts[0]) < 2:
            return torch.ones(self.num_tasks)
        ratio = self.history[1] / self.history[0].clamp_min(1e-12)
        return self.num_tasks * F.softmax(ratio / self.temperature, dim=0)

    def record(self, values: Tensor) -> None:
        """Add one iteration's (rank-averaged) losses to the running period."""
        self.running += values.to(self.running)
        self.counts[1] += 1
        if int(self.counts[1]) == self.period:
            self.history[0] = self.history[1]
            self.history[1] = self.running / self.period
            self.running.zero_()
            self.counts[1] = 0
            self.counts[0] += 1

    def balance(self, losses, model):
        weights = self.current_weights()
        if self.training:
            self.record(self.global_loss_values(losses))
        loss = sum(float(weights[i]) * losses[i] for i in range(self.num_tasks))
        return loss, loss, self.weight_logs(weights)


class _SeededDraws(BaseLossBalancer):
    """Random draws identical on every rank and after a resume: the generator is seeded
    with ``seed`` plus the number of draws so far (a buffer, saved in checkpoints)."""

    def __init__(self, seed: int = 0, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.seed = seed
        self.register_buffer('draws', torch.zeros((), dtype=torch.long))

    def generator(self) -> torch.Generator:
        gen = torch.Generator()
        gen.manual_seed(int(self.seed) + int(self.draws))
        if self.training:
            self.draws += 1
        return gen


@MODELS.register_module()
class RLW(_SeededDraws):
    """Random Loss Weighting (Lin et al., "Reasonable Effectiveness of Random Weighting: A
    Litmus Test for Multi-Task Learning", TMLR 2022).

    Every iteration ``w = softmax(z)``, ``z ~ N(0, I)`` (the paper's normal distribution),
    ``L = sum_i w_i L_i``. The weights sum to 1, so the update is ``1/T`` of the fixed sum's
    scale on average.

    Args:
        seed: seed of the weight draws (the same on every rank).
    """

    def balance(self, losses, model):
        weights = F.softmax(torch.randn(self.num_tasks, generator=self.generator()), dim=0)
        loss = sum(float(weights[i]) * losses[i] for i in range(self.num_tasks))
        return loss, loss, self.weight_logs(weights)


@MODELS.register_module()
class GeometricMeanLoss(BaseLossBalancer):
    """Geometric loss strategy (Chennupati et al., "MultiNet++", CVPR Workshops 2019):
    ``L = (prod_i L_i)^(1/T)``, or with ``log=True`` the log losses ``L = sum_i log L_i``
    (the logarithm transform of Lin et al., "Dual-Balancing for Multi-Task Learning", 2023).

    Both make the update invariant to a rescaling of any task loss: the effective weight of
    task ``i`` is ``L / (T L_i)`` (geometric) or ``1 / L_i`` (log), logged as ``w_<task>``.
    Losses must be positive; they are clamped at ``eps``.

    Args:
        log: sum of log losses instead of the geometric mean.
        eps: lower bound of the losses.
    """

    def __init__(self, log: bool = False, eps: float = 1e-8,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.log = log
        self.eps = eps

    def balance(self, losses, model):
        logs = torch.stack([v.float().clamp_min(self.eps).log() for v in losses])
        values = torch.stack([v.detach().float().clamp_min(self.eps) for v in losses])
        if self.log:
            loss = logs.sum()
            weights = 1.0 / values
        else:
            loss = logs.mean().exp()
            weights = loss.detach() / (self.num_tasks * values)
        return loss, loss, self.weight_logs(weights)


@MODELS.register_module()
class FAMO(BaseLossBalancer):
    """Fast Adaptive Multitask Optimization (Liu et al., NeurIPS 2023).

    Task logits ``xi`` (initialised to 0), ``z = softmax(xi)``; the model minimises
    ``sum_i z_i log(L_i - m_i + eps) / c`` with ``c = sum_i z_i / (L_i - m_i + eps)``
    (detached), so task ``i`` has the effective weight ``z_i / (c (L_i - m_i + eps))``. The
    logits follow Adam (lr ``w_lr`` = 0.025, weight decay ``gamma`` = 0.01, the
    defaults of the official code, Cranial-XIX/FAMO famo.py) on the gradient
    ``J_softmax^T delta`` with ``delta_i = log L_i(t-1) - log L_i(t)``.

    Cost: one backward pass, ``O(T)`` memory. Difference from the official code: it measures
    ``L(t)`` with an extra forward pass of the updated model on the same batch; here ``L(t)``
    is the loss of the next iteration's batch (no extra forward pass, but noisier). The
    losses are averaged over the ranks; the logits and their Adam state are buffers, so they
    are the same on every rank and saved in checkpoints. The official code also clips the
    gradient norm to 1: set ``optim_wrapper=dict(clip_grad=dict(max_norm=1.0))``.

    Args:
        w_lr: learning rate of the logits.
        gamma: weight decay of the logits.
        eps: added to the shifted losses (``m_i`` = 0, the official default).
    """

    def __init__(self, w_lr: float = 0.025, gamma: float = 0.01, eps: float = 1e-8,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.w_lr, self.gamma, self.eps = w_lr, gamma, eps
        self.betas = (0.9, 0.999)
        for name in ('logits', 'exp_avg', 'exp_avg_sq', 'prev_losses', 'min_losses'):
            self.register_buffer(name, torch.zeros(0))
        self.register_buffer('steps', torch.zeros((), dtype=torch.long))
        self.register_buffer('has_prev', torch.zeros((), dtype=torch.bool))

    def bind(self, model, loss_names):
        super().bind(model, loss_names)
        for name in ('logits', 'exp_avg', 'exp_avg_sq', 'prev_losses', 'min_losses'):
            setattr(self, name, torch.zeros(self.num_tasks))

    def update_logits(self, current: Tensor) -> None:
        """One Adam step of the logits from the previous and current (global) losses."""
        delta = ((self.prev_losses - self.min_losses + self.eps).log()
                 - (current - self.min_losses + self.eps).log())
        z = F.softmax(self.logits, dim=0)
        grad = z * (delta - (z * delta).sum())  # J_softmax^T delta
        grad = grad + self.gamma * self.logits  # Adam's (L2) weight decay
        self.steps += 1
        b1, b2 = self.betas
        self.exp_avg.mul_(b1).add_(grad, alpha=1 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        step = int(self.steps)
        denom = (self.exp_avg_sq / (1 - b2**step)).sqrt() + 1e-8
        self.logits -= self.w_lr * (self.exp_avg / (1 - b1**step)) / denom

    def balance(self, losses, model):
        current = self.global_loss_values(losses).to(self.logits)
        if self.training:
            if bool(self.has_prev):
                self.update_logits(current)
            self.prev_losses.copy_(current)
            self.has_prev.fill_(True)
        z = F.softmax(self.logits, dim=0)
        shifted = [v.float() - float(self.min_losses[i]) + self.eps
                   for i, v in enumerate(losses)]
        c = sum(float(z[i]) / float(shifted[i].detach()) for i in range(self.num_tasks))
        loss = sum(float(z[i]) / c * shifted[i].log() for i in range(self.num_tasks))
        weights = torch.stack([z[i] / (c * shifted[i].detach()) for i in range(self.num_tasks)])
        logs = self.weight_logs(weights)
        logs.update({f'z_{self.task_name(i)}': z[i].cpu() for i in range(self.num_tasks)})
        return loss, loss, logs
