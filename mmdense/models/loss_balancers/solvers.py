"""Combination coefficients of the gradient-surgery methods, from the task Gram matrix.

Every gradient method of :mod:`mmdense.models.loss_balancers` returns an update that is a linear
combination ``d = sum_i c_i g_i`` of the task gradients ``g_i``, with coefficients that depend
on the gradients only through their inner products. The functions here take the Gram matrix
``K[i, j] = <g_i, g_j>`` (float64, ``(T, T)``) and return ``c`` (float64, ``(T,)``), so the
methods can be checked on hand-built gradients and run identically on every DDP rank (the
Gram matrix is all-reduced first).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

_EPS = 1e-12


def _check_gram(gram: Tensor) -> Tensor:
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] == 0:
        raise ValueError(f'expected a square (T, T) Gram matrix, got shape {tuple(gram.shape)}')
    return gram.detach().to(torch.float64)


def min_norm_pair(k11: float, k12: float, k22: float) -> float:
    """``gamma`` minimising ``|gamma * a + (1 - gamma) * b|`` for ``a.a=k11, a.b=k12, b.b=k22``."""
    denom = k11 + k22 - 2.0 * k12
    if denom <= _EPS:  # a == b: any gamma, keep the midpoint
        return 0.5
    return float(min(max((k22 - k12) / denom, 0.0), 1.0))


def mgda_min_norm(gram: Tensor, max_iter: int = 250, tol: float = 1e-5) -> Tensor:
    """Min-norm point of the convex hull of the gradients (MGDA, Sener & Koltun 2018).

    Two tasks: closed form. More: the Frank-Wolfe solver of the paper (Algorithm 2), started
    from the best pair as the official code, with its 250 iterations and 1e-5 stopping step.

    Returns:
        The convex weights ``alpha`` (sum 1, non-negative).
    """
    k = _check_gram(gram)
    t = k.shape[0]
    if t == 1:
        return torch.ones(1, dtype=torch.float64)
    # Best pair as the starting point.
    best, alpha = None, None
    for i in range(t):
        for j in range(i + 1, t):
            gamma = min_norm_pair(k[i, i].item(), k[i, j].item(), k[j, j].item())
            cost = (gamma**2 * k[i, i] + (1 - gamma)**2 * k[j, j]
                    + 2 * gamma * (1 - gamma) * k[i, j]).item()
            if best is None or cost < best:
                best = cost
                alpha = torch.zeros(t, dtype=torch.float64)
                alpha[i], alpha[j] = gamma, 1 - gamma
    if t == 2:
        return alpha
    for _ in range(max_iter):
        grad = k @ alpha
        idx = int(torch.argmin(grad))
        v1v1 = float(alpha @ grad)
        v1v2 = float(grad[idx])
        v2v2 = float(k[idx, idx])
        gamma = min_norm_pair(v1v1, v1v2, v2v2)
        new = gamma * alpha
        new[idx] += 1 - gamma
        step = (new - alpha).abs().sum().item()
        alpha = new
        if step < tol:
            break
    return alpha


def pcgrad_coefficients(gram: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """PCGrad (Yu et al. 2020, Algorithm 1): sum of the projected task gradients.

    Each ``g_i`` is projected, in a random order of the other tasks, onto the normal plane of
    every original ``g_j`` it conflicts with (``<g_i^PC, g_j> < 0``). The projected gradients
    are tracked as coefficient vectors over the original ones.
    """
    k = _check_gram(gram)
    t = k.shape[0]
    coef = torch.eye(t, dtype=torch.float64)  # row i: g_i^PC = sum_m coef[i, m] g_m
    for i in range(t):
        order = torch.randperm(t, generator=generator).tolist()
        for j in order:
            if j == i:
                continue
            dot = float(coef[i] @ k[:, j])
            if dot < 0 and k[j, j] > _EPS:
                coef[i, j] -= dot / float(k[j, j])
    return coef.sum(0)


def cagrad_coefficients(gram: Tensor, c: float = 0.4, rescale: int = 1) -> Tensor:
    """CAGrad (Liu et al. 2021): ``d = g0 + sqrt(phi) / |g_w| g_w``, ``phi = c^2 |g0|^2``.

    ``g0`` is the average gradient; ``w`` minimises ``g_w . g0 + sqrt(phi) |g_w|`` over the
    simplex (the dual of the paper's Eq. 4), solved with SLSQP as the official code.
    ``rescale=1`` divides the update by ``1 + c^2`` (official default), 0 keeps it, 2 divides
    by ``1 + c``.
    """
    from scipy.optimize import minimize

    k = _check_gram(gram).numpy()
    t = k.shape[0]
    g0_norm = float(np.sqrt(max(k.mean(), 0.0) + 1e-8))
    sqrt_phi = c * g0_norm + 1e-8
    b = np.full(t, 1.0 / t)
    kb = k @ b

    def objective(w):
        return float(w @ kb + sqrt_phi * np.sqrt(max(w @ k @ w, 0.0) + 1e-8))

    res = minimize(objective, b.copy(), bounds=[(0.0, 1.0)] * t,
                   constraints=({'type': 'eq', 'fun': lambda w: 1.0 - w.sum()}, ))
    w = res.x
    gw_norm = float(np.sqrt(max(w @ k @ w, 0.0)))
    coef = b + sqrt_phi / (gw_norm + 1e-8) * w
    if rescale == 1:
        coef = coef / (1 + c**2)
    elif rescale == 2:
        coef = coef / (1 + c)
    elif rescale != 0:
        raise ValueError(f'CAGrad rescale must be 0, 1 or 2, got {rescale!r}')
    return torch.from_numpy(coef)


def imtlg_coefficients(gram: Tensor) -> Tensor:
    """IMTL-G (Liu et al. 2021): the update has equal projections on every unit gradient.

    ``alpha_{2..T} = g_1 U^T (D U^T)^{-1}`` with rows ``D_i = g_1 - g_i`` and
    ``U_i = u_1 - u_i`` (``u = g / |g|``), ``alpha_1 = 1 - sum(alpha_{2..T})``.
    """
    k = _check_gram(gram)
    t = k.shape[0]
    if t == 1:
        return torch.ones(1, dtype=torch.float64)
    n = k.diagonal().clamp_min(_EPS).sqrt()
    kn = k / n[None, :]  # kn[i, j] = <g_i, u_j>
    rest = torch.arange(1, t)
    row = kn[0, 0] - kn[0, rest]  # g_1 . (u_1 - u_j)
    du = (kn[0, 0] - kn[0, rest])[None, :] - (kn[rest, 0][:, None] - kn[rest][:, rest])
    alpha_rest = torch.linalg.lstsq(du.T, row[:, None]).solution[:, 0]
    return torch.cat([(1 - alpha_rest.sum())[None], alpha_rest])


def nash_mtl_coefficients(gram: Tensor, max_iter: int = 100, tol: float = 1e-10) -> Tensor:
    """Nash-MTL (Navon et al. 2022): ``alpha > 0`` with ``K alpha = 1 / alpha``.

    ``K`` is normalised by its Frobenius norm, as the official code does, so the update
    does not depend on the gradients' scale. The condition is the stationarity of the
    strictly convex ``0.5 a^T K a - sum(log a)``, minimised here with damped Newton steps
    (exact, where the official code runs 20 steps of a sequential convex approximation).
    """
    k = _check_gram(gram)
    t = k.shape[0]
    norm = torch.linalg.norm(k)
    if norm <= _EPS:
        return torch.zeros(t, dtype=torch.float64)
    k = k / norm + 1e-10 * torch.eye(t, dtype=torch.float64)
    alpha = 1.0 / k.diagonal().clamp_min(1e-6).sqrt()

    def phi(a):
        return 0.5 * a @ k @ a - torch.log(a).sum()

    for _ in range(max_iter):
        grad = k @ alpha - 1.0 / alpha
        if grad.abs().max() < tol:
            break
        hess = k + torch.diag(1.0 / alpha**2)
        step = torch.linalg.solve(hess, grad)
        s = 1.0
        while (alpha - s * step).min() <= 0 or phi(alpha - s * step) > phi(alpha):
            s *= 0.5
            if s < 1e-12:
                break
        alpha = alpha - s * step
    return alpha


def aligned_mtl_coefficients(gram: Tensor, scale_mode: str = 'min') -> Tensor:
    """Aligned-MTL (Senushkin et al. 2023): gradients aligned to an orthogonal system.

    With ``K = V diag(lambda) V^T`` (rank ``R``), the aligned task gradients are ``G B`` with
    ``B = V_R diag(s / sqrt(lambda)) V_R^T`` and ``s`` the smallest singular value
    (``scale_mode='min'``, the paper's), or their median / root-mean-square. The update is
    their sum, so ``c = B 1``.
    """
    k = _check_gram(gram)
    lam, vec = torch.linalg.eigh(k)
    tol = lam.max().clamp_min(0) * k.shape[0] * torch.finfo(torch.float32).eps
    keep = lam > tol
    if not keep.any():
        return torch.zeros(k.shape[0], dtype=torch.float64)
    lam, vec = lam[keep], vec[:, keep]
    sigma = lam.sqrt()
    if scale_mode == 'min':
        s = sigma.min()
    elif scale_mode == 'median':
        s = sigma.median()
    elif scale_mode == 'rmse':
        s = lam.mean().sqrt()
    else:
        raise ValueError(f"Aligned-MTL scale_mode must be 'min', 'median' or 'rmse', got "
                         f'{scale_mode!r}')
    b = vec @ torch.diag(s / sigma) @ vec.T
    return b.sum(1)
