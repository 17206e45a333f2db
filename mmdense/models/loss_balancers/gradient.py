"""Gradient balancers: per-task gradients of the shared part combined by a surgery rule.

Mechanics (:class:`BaseGradientBalancer`). After the forward pass:

1. the gradient ``g_i`` of every task loss is taken w.r.t. the shared inputs with
   ``torch.autograd.grad`` (``retain_graph``): either the shared **parameters**
   (``level='parameters'``; the modules named in ``shared``, default the backbone and neck) or
   the shared **representation** (``level='representation'``: the output of the
   ``representation`` module, default the neck, else the backbone);
2. under DDP they are combined over the ranks: the parameter gradients are averaged
   (``T x P`` numbers all-reduced), the representation Gram matrix is summed (``T x T``;
   rank ``r``'s features are its own coordinates of the global representation, and the
   ``1 / world_size**2`` factor makes the global loss the mean of the rank losses);
3. the method turns the ``(T, T)`` Gram matrix ``K`` into coefficients ``c``
   (:mod:`.solvers`), identical on every rank; the surgery's update is ``sum_i c_i g_i``;
4. the model back-propagates (through the optim wrapper, so with its loss scaling,
   accumulation and DDP reduction) the surrogate
   ``sum_i L_i + <x, delta> - <x, delta>.detach()``, ``x`` the shared inputs and
   ``delta = sum_i (c_i - 1) g_i``: its gradient is the surgery's update on the shared part
   and ``sum_i grad L_i`` on the rest (the task-specific parameters get their own task's
   gradient, unweighted, as in the papers); its value, logged as ``loss``, is the plain sum
   of the task losses.

Cost per iteration, T tasks: ``level='parameters'``: ``T + 1`` backward passes through the
whole network and ``T x P`` extra floats (``P`` shared parameters); ``level='representation'``:
``T`` backward passes through the heads only plus the usual one, ``T x`` the feature size in
extra memory. Both keep the forward graph alive during the ``T`` passes. The per-task passes
use ``torch.autograd.grad``, so backbones with re-entrant activation checkpointing
(``with_cp=True``) cannot be used with them.

AMP. With fp16 autocast (detected in the forward pass), the per-task passes are run on the
losses multiplied by a dynamic scale (``fp16_init_scale``, halved and retried when a gradient
is not finite, doubled every 2000 finite iterations) and the gradients are divided by it
before the surgery; the final backward goes through the optim wrapper's own loss scaler as
usual. With bf16 (the CPU AMP of ``tools/train.py --amp``) no scale is used.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmdense.registry import MODELS

from . import solvers
from .base import BaseLossBalancer, all_reduce_mean, all_reduce_sum, world_size


def _flatten_tensors(obj) -> list[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _flatten_tensors(o)]
    return []


def _autocast_fp16() -> bool:
    for device in ('cuda', 'cpu'):
        try:
            if torch.is_autocast_enabled(device) and \
                    torch.get_autocast_dtype(device) == torch.float16:
                return True
        except (RuntimeError, TypeError):
            continue
    return False


class BaseGradientBalancer(BaseLossBalancer):
    """Base of the methods that combine per-task gradients (see the module docstring).

    Subclasses implement :meth:`coefficients`.

    Args:
        level: ``'parameters'`` (gradients of the shared parameters) or ``'representation'``
            (gradients of the shared features; cheaper, see the module docstring).
        shared: names of the top-level modules whose parameters are shared by all tasks
            (``level='parameters'``), or any parameter-name prefixes.
        representation: name of the module whose output is the shared representation
            (``level='representation'``). Default: ``'neck'`` if the model has one, else
            ``'backbone'``.
        fp16_init_scale: first scale of the per-task backward passes under fp16 autocast.
        log_cosine: log the cosine of every pair of task gradients.
    """

    default_level = 'parameters'

    def __init__(self,
                 level: str | None = None,
                 shared: Sequence[str] = ('backbone', 'neck'),
                 representation: str | None = None,
                 fp16_init_scale: float = 2.0**16,
                 log_cosine: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        level = level or self.default_level
        if level not in ('parameters', 'representation'):
            raise ValueError(f"{type(self).__name__}: level must be 'parameters' or "
                             f"'representation', got {level!r}")
        self.level = level
        self.shared = tuple([shared] if isinstance(shared, str) else shared)
        self.representation = representation
        self.fp16_scale = float(fp16_init_scale)
        self.log_cosine = log_cosine
        self._good_steps = 0
        self._fp16 = False
        self._features: list[Tensor] = []
        self._shared_names: list[str] = []

    def bind(self, model: nn.Module, loss_names: Sequence[str]) -> None:
        super().bind(model, loss_names)
        name = self.representation
        if name is None:
            name = 'neck' if getattr(model, 'neck', None) is not None else 'backbone'
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f'{type(self).__name__}: the model has no module {name!r} to '
                             'take the shared representation from (`representation`).') from None
        module.register_forward_hook(self._capture)
        if self.level == 'parameters':
            self._shared_names = [
                n for n, p in model.named_parameters()
                if p.requires_grad and any(n == s or n.startswith(s + '.') for s in self.shared)]
            if not self._shared_names:
                raise ValueError(f'{type(self).__name__}: no trainable parameter under '
                                 f'`shared`={list(self.shared)}.')

    def _capture(self, module, args, output) -> None:
        if not (self.training and torch.is_grad_enabled()):
            return
        self._fp16 = _autocast_fp16()
        if self.level == 'representation':
            self._features = [t for t in _flatten_tensors(output) if t.requires_grad]

    def _inputs(self, model: nn.Module) -> list[Tensor]:
        if self.level == 'parameters':
            params = dict(model.named_parameters())
            return [params[n] for n in self._shared_names]
        if not self._features:
            raise RuntimeError(f'{type(self).__name__}: no shared representation was recorded '
                               'in the forward pass (is the model in training mode?).')
        return self._features

    def task_gradients(self, losses: list[Tensor], inputs: list[Tensor]
                       ) -> tuple[Tensor, Tensor]:
        """Per-task gradients ``G`` (``(T, N)``, float32) and the global Gram matrix."""
        scale = self.fp16_scale if self._fp16 else 1.0
        for _ in range(32):
            rows = []
            for value in losses:
                grads = torch.autograd.grad(value * scale if scale != 1.0 else value, inputs,
                                            retain_graph=True, allow_unused=True)
                rows.append(torch.cat([
                    (g if g is not None else torch.zeros_like(x)).float().reshape(-1)
                    for g, x in zip(grads, inputs)]))
            grads = torch.stack(rows)
            if scale != 1.0:
                grads = grads / scale
            if self.level == 'parameters':
                grads = all_reduce_mean(grads)
                gram = grads @ grads.T
            else:
                gram = all_reduce_sum(grads @ grads.T) / world_size()**2
            if not self._fp16:
                break
            if torch.isfinite(gram).all():
                self._good_steps += 1
                if self._good_steps % 2000 == 0:
                    self.fp16_scale *= 2.0
                break
            scale = self.fp16_scale = scale / 2.0
            self._good_steps = 0
        return grads, gram.double()

    def coefficients(self, gram: Tensor, losses: Tensor) -> Tensor:
        """``(T,)`` float64 coefficients from the global Gram matrix and (global) losses."""
        raise NotImplementedError

    def gradient_logs(self, gram: Tensor) -> dict[str, Tensor]:
        gram = gram.detach().cpu().double()
        norms = gram.diagonal().clamp_min(0).sqrt()
        logs = {f'gnorm_{self.task_name(i)}': norms[i].float() for i in range(self.num_tasks)}
        if self.log_cosine:
            for i in range(self.num_tasks):
                for j in range(i + 1, self.num_tasks):
                    cos = gram[i, j] / (norms[i] * norms[j]).clamp_min(1e-20)
                    logs[f'cos_{self.task_name(i)}_{self.task_name(j)}'] = cos.float()
        return logs

    def balance(self, losses, model):
        if not (self.training and torch.is_grad_enabled()):
            loss = sum(losses)
            return loss, loss, {}
        values = self.global_loss_values(losses)
        inputs = self._inputs(model)
        grads, gram = self.task_gradients(losses, inputs)
        coef = self.coefficients(gram.cpu(), values.detach().cpu().double())
        if not torch.isfinite(coef).all():  # degenerate gradients: fall back to the sum
            coef = torch.ones(self.num_tasks, dtype=torch.float64)
        self._features = []
        coef_t = coef.to(device=grads.device, dtype=grads.dtype)
        delta = (coef_t - 1.0) @ grads
        extra = grads.new_zeros(())
        start = 0
        for x in inputs:
            part = delta[start:start + x.numel()].view_as(x)
            start += x.numel()
            extra = extra + (x.float() * part).sum()
        loss = sum(losses) + (extra - extra.detach())
        # No scalar objective has the surgery's update as gradient: log the plain sum (the
        # value of ``loss``), comparable across methods; the coefficients are in ``w_<task>``.
        objective = loss.detach()
        logs = self.weight_logs(coef)
        logs.update(self.gradient_logs(gram))
        return loss, objective, logs


@MODELS.register_module()
class PCGrad(BaseGradientBalancer):
    """Projecting Conflicting Gradients (Yu et al., "Gradient Surgery for Multi-Task
    Learning", NeurIPS 2020, Algorithm 1); no hyper-parameter.

    Each task gradient is projected onto the normal plane of every other task gradient it
    conflicts with, in a random order; the update is the sum. The order is drawn from a
    generator seeded with ``seed`` and the iteration count (a buffer), so it is the same on
    every rank and after a resume. The paper works on the shared parameters (the default);
    ``level='representation'`` is the cheaper variant of LibMTL. Cost: see the module
    docstring (``T + 1`` backward passes at parameter level).

    Args:
        seed: seed of the projection orders.
        **kwargs: see :class:`BaseGradientBalancer`.
    """

    def __init__(self, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.register_buffer('draws', torch.zeros((), dtype=torch.long))

    def coefficients(self, gram, losses):
        gen = torch.Generator()
        gen.manual_seed(int(self.seed) + int(self.draws))
        self.draws += 1
        return solvers.pcgrad_coefficients(gram, gen)


@MODELS.register_module()
class CAGrad(BaseGradientBalancer):
    """Conflict-Averse Gradient descent (Liu et al., NeurIPS 2021).

    The update maximises the worst task improvement within a ball of radius ``c |g0|``
    around the average gradient ``g0``: ``d = g0 + sqrt(phi) g_w / |g_w|`` (see
    :func:`~.solvers.cagrad_coefficients`), divided by ``1 + c^2`` (``rescale=1``). ``c = 0.4``
    is the paper's value for NYUv2. The update is on the scale of the *average* gradient, as
    in the official code. Parameter level (the paper's) by default.

    Args:
        c: radius of the ball, relative to ``|g0|``.
        rescale: 0, 1 or 2 (see the solver).
        **kwargs: see :class:`BaseGradientBalancer`.
    """

    def __init__(self, c: float = 0.4, rescale: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.c, self.rescale = c, rescale

    def coefficients(self, gram, losses):
        return solvers.cagrad_coefficients(gram, self.c, self.rescale)


@MODELS.register_module()
class IMTLG(BaseGradientBalancer):
    """Gradient part of Impartial Multi-Task Learning (Liu et al., ICLR 2021), IMTL-G.

    The update ``sum_i alpha_i g_i`` (``sum alpha = 1``) has the same projection on every
    unit task gradient (closed form, :func:`~.solvers.imtlg_coefficients`); no
    hyper-parameter. The paper computes the gradients w.r.t. the shared representation
    (default, ``T`` backward passes through the heads); ``level='parameters'`` uses the
    shared parameters.
    """

    default_level = 'representation'

    def coefficients(self, gram, losses):
        return solvers.imtlg_coefficients(gram)


@MODELS.register_module()
class MGDA(BaseGradientBalancer):
    """Multiple-gradient descent, MGDA-UB (Sener & Koltun, "Multi-Task Learning as
    Multi-Objective Optimization", NeurIPS 2018).

    The update is the min-norm point of the convex hull of the task gradients (Frank-Wolfe,
    :func:`~.solvers.mgda_min_norm`). MGDA-UB, the paper's efficient upper bound, takes the
    gradients w.r.t. the shared representation (default; ``T`` backward passes through the
    heads); ``level='parameters'`` is the exact MGDA (``T + 1`` full backward passes). As the
    official code, the weights are found on optionally normalised gradients and applied to
    the raw losses.

    Gradient normalisation, default ``'none'``: the paper's algorithm has none, and the
    official code calls it "optional and not included in the paper"
    (isl-org/MultiObjectiveOptimization multi_task/train_multi_task.py:158-159, the options in
    ``gradient_normalizers`` of multi_task/min_norm_solvers.py). The paper's experiments are
    MultiMNIST, CelebA and Cityscapes (no NYU); the repository releases only the CelebA
    parameters, which use ``'loss+'`` (sample.json:8), and no Cityscapes ones. LibMTL
    (median-research-group/LibMTL LibMTL/config.py:34 at commit 04cf41a,
    LibMTL/weighting/MGDA.py:16 at 2d842d6) and the Nash-MTL code (AvivNavon/nash-mtl
    methods/weight_methods.py, class ``MGDA``) default to ``'none'`` as well. With ``'none'``
    the min-norm point leans towards the task with the smallest gradient, so the weights
    depend on how each loss is scaled (on NYUD the edge loss is weighted 50x); with ``'l2'``
    or ``'loss'`` they do not.

    Args:
        normalization: ``'none'`` (default), ``'l2'`` (unit gradients), ``'loss'`` (divided
            by the loss) or ``'loss+'`` (by the loss times the norm): the official code's
            options.
        **kwargs: see :class:`BaseGradientBalancer`.
    """

    default_level = 'representation'

    def __init__(self, normalization: str = 'none', **kwargs) -> None:
        super().__init__(**kwargs)
        if normalization not in ('none', 'l2', 'loss', 'loss+'):
            raise ValueError(f"MGDA normalization must be 'none', 'l2', 'loss' or 'loss+', "
                             f'got {normalization!r}')
        self.normalization = normalization

    def coefficients(self, gram, losses):
        norms = gram.diagonal().clamp_min(1e-20).sqrt()
        scale = {'none': torch.ones_like(norms), 'l2': norms, 'loss': losses,
                 'loss+': losses * norms}[self.normalization].clamp_min(1e-20)
        return solvers.mgda_min_norm(gram / (scale[:, None] * scale[None, :]))


@MODELS.register_module()
class NashMTL(BaseGradientBalancer):
    """Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022).

    The update ``sum_i alpha_i g_i`` is the Nash bargaining solution, ``K alpha = 1 / alpha``
    on the normalised Gram matrix (:func:`~.solvers.nash_mtl_coefficients`), recomputed every
    iteration (``update_weights_every=1`` of the official NYUv2 runs). The official code also
    clips the gradient norm to 1: set ``optim_wrapper=dict(clip_grad=dict(max_norm=1.0))``
    (the configs of ``configs/demt/balancing`` do). Parameter level (the paper's) by default.
    """

    def coefficients(self, gram, losses):
        return solvers.nash_mtl_coefficients(gram)


@MODELS.register_module()
class AlignedMTL(BaseGradientBalancer):
    """Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task
    Learning", CVPR 2023).

    Aligns the task gradients to an orthogonal system of equal-magnitude directions (the
    smallest singular value, ``scale_mode='min'``, the paper's) and sums them
    (:func:`~.solvers.aligned_mtl_coefficients`). ``level='representation'`` is the paper's
    Aligned-MTL-UB (upper bound on the shared features, ``T`` backward passes through the
    heads); the default is the parameter level.

    Args:
        scale_mode: ``'min'``, ``'median'`` or ``'rmse'``.
        **kwargs: see :class:`BaseGradientBalancer`.
    """

    def __init__(self, scale_mode: str = 'min', **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale_mode = scale_mode

    def coefficients(self, gram, losses):
        return solvers.aligned_mtl_coefficients(gram, self.scale_mode)


@MODELS.register_module()
class GradNorm(BaseGradientBalancer):
    """GradNorm (Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing
    in Deep Multitask Networks", ICML 2018); a loss-weighting method driven by gradients.

    Learnable weights ``w`` (model parameters ``loss_balancer.weights``, initialised to 1,
    renormalised to sum ``T`` before every iteration) weigh the losses. Their gradient is that
    of ``L_grad = sum_i |w_i n_i - mean_j(w_j n_j) r_i^alpha|`` with the target held constant
    (Eq. 2 of the paper), ``n_i`` the norm of the gradient of ``L_i`` w.r.t. the shared
    layer and ``r_i`` the inverse training rate ``(L_i(t) / L_i(0)) / mean_j(...)``.
    ``alpha = 1.5`` by default (a larger ``alpha`` pulls the training rates together
    harder): the value the paper reports for its NYUv2 experiments and the default of LibMTL
    (median-research-group/LibMTL LibMTL/config.py:39 at commit 04cf41a,
    LibMTL/weighting/GradNorm.py:15 at 2d842d6); the authors released no code. The weights
    are trained by the model's optimizer (set their learning rate with ``paramwise_cfg``).

    The paper takes ``n_i`` w.r.t. the weights of the last shared layer. Default here: w.r.t.
    the shared representation (the output of that layer; ``T`` backward passes through the
    heads). ``level='parameters'`` with ``shared=['<name of the last shared layer>']`` gives
    the paper's choice.

    Args:
        alpha: asymmetry ``alpha``.
        **kwargs: see :class:`BaseGradientBalancer`.
    """

    default_level = 'representation'

    def __init__(self, alpha: float = 1.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alpha = alpha
        self.weights = nn.Parameter(torch.zeros(0))
        self.register_buffer('initial_losses', torch.zeros(0))

    def bind(self, model, loss_names):
        super().bind(model, loss_names)
        self.weights = nn.Parameter(torch.ones(self.num_tasks))
        self.initial_losses = torch.zeros(self.num_tasks)

    def balance(self, losses, model):
        if not (self.training and torch.is_grad_enabled()):
            loss = sum(w * v for w, v in zip(self.weights.detach(), losses))
            return loss, loss, {}
        with torch.no_grad():
            self.weights.mul_(self.num_tasks / self.weights.sum().clamp_min(1e-12))
        values = self.global_loss_values(losses).to(self.initial_losses)
        if not bool((self.initial_losses > 0).all()):
            self.initial_losses.copy_(values.clamp_min(1e-12))
        _, gram = self.task_gradients(losses, self._inputs(model))
        self._features = []
        w = self.weights
        norms = gram.diagonal().clamp_min(0).sqrt().to(w)
        ratio = values / self.initial_losses
        ratio = ratio / ratio.mean()
        wn = w.detach() * norms
        target = wn.mean() * ratio**self.alpha
        grad_w = torch.sign(wn - target) * norms  # d L_grad / d w_i, target constant
        aux = (w * grad_w).sum()
        weighted = sum(w[i].detach() * losses[i] for i in range(self.num_tasks))
        loss = weighted + (aux - aux.detach())
        logs = self.weight_logs(w)
        logs.update(self.gradient_logs(gram))
        logs['gradnorm_lgrad'] = (wn - target).abs().sum().cpu()
        return loss, weighted, logs
