"""Loss balancers: closed-form results on hand-built gradients, and the model integration."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from scipy.optimize import minimize, root

from mmdense.models.loss_balancers import solvers
from mmdense.registry import MODELS
from mmdense.utils import register_all_modules
from tests.helpers.mtl_fixture import build_model, make_batch

register_all_modules(init_default_scope=False)


class _Toy(nn.Module):
    """Shared parameters ``backbone.theta``; task ``i`` has the loss ``<g_i, theta>``."""

    def __init__(self, dim):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.theta = nn.Parameter(torch.zeros(dim))


def _surgery_grad(balancer_cfg, grads):
    """The shared-parameter gradient a balancer produces for constant task gradients."""
    grads = torch.as_tensor(grads, dtype=torch.float32)
    toy = _Toy(grads.shape[1])
    balancer = MODELS.build(balancer_cfg)
    balancer.bind(toy, [f'loss_t{i}' for i in range(len(grads))])
    losses = {f'loss_t{i}': g @ toy.backbone.theta for i, g in enumerate(grads)}
    loss, log_vars = balancer(losses, toy)
    loss.backward()
    return toy.backbone.theta.grad, log_vars


def _gram(grads):
    g = torch.as_tensor(grads, dtype=torch.float64)
    return g @ g.T


# ------------------------------------------------------------------------- closed forms
def test_pcgrad_two_conflicting_gradients():
    # g1 = (1, 0), g2 = (-1, 1) conflict (g1.g2 = -1): g1 -> g1 - (-1/2) g2 = (0.5, 0.5),
    # g2 -> g2 - (-1/1) g1 = (0, 1); the update is their sum, whatever the order.
    grad, log_vars = _surgery_grad(dict(type='PCGrad'), [[1.0, 0.0], [-1.0, 1.0]])
    torch.testing.assert_close(grad, torch.tensor([0.5, 1.5]))
    assert log_vars['cos_t0_t1'] == pytest.approx(-1 / math.sqrt(2), abs=1e-6)
    assert log_vars['gnorm_t1'] == pytest.approx(math.sqrt(2), abs=1e-6)
    # No conflict: plain sum.
    grad, _ = _surgery_grad(dict(type='PCGrad'), [[1.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(grad, torch.tensor([2.0, 1.0]))


def test_mgda_min_norm_point_of_two_gradients():
    # The closest point to 0 of the segment [(1, 0), (0, 2)]: gamma = 4 / 5 -> (0.8, 0.4).
    grad, log_vars = _surgery_grad(dict(type='MGDA', level='parameters'),
                                   [[1.0, 0.0], [0.0, 2.0]])
    torch.testing.assert_close(grad, torch.tensor([0.8, 0.4]))
    assert float(log_vars['w_t0']) == pytest.approx(0.8)
    # One gradient inside the cone of the other's: the min-norm point is the shorter one.
    grad, _ = _surgery_grad(dict(type='MGDA', level='parameters'), [[1.0, 0.0], [3.0, 0.5]])
    torch.testing.assert_close(grad, torch.tensor([1.0, 0.0]))


def test_mgda_frank_wolfe_matches_a_qp_solver():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(4, 6))
    k = g @ g.T
    res = minimize(lambda a: a @ k @ a, np.full(4, 0.25), bounds=[(0, 1)] * 4,
                   constraints=({'type': 'eq', 'fun': lambda a: a.sum() - 1}, ), tol=1e-12)
    alpha = solvers.mgda_min_norm(torch.from_numpy(k)).numpy()
    assert alpha.sum() == pytest.approx(1.0) and (alpha >= 0).all()
    assert alpha @ k @ alpha == pytest.approx(res.fun, rel=1e-3)


def _cagrad_primal(g, c):
    """max_d min_i <g_i, d> s.t. |d - g0| <= c |g0| (the paper's Eq. 3), solved directly."""
    g0 = g.mean(0)
    r2 = (c * np.linalg.norm(g0))**2
    x0 = np.concatenate([g0, [min(g @ g0)]])
    cons = [{'type': 'ineq', 'fun': lambda x, i=i: g[i] @ x[:-1] - x[-1]} for i in range(len(g))]
    cons.append({'type': 'ineq', 'fun': lambda x: r2 - np.sum((x[:-1] - g0)**2)})
    res = minimize(lambda x: -x[-1], x0, constraints=cons, method='SLSQP',
                   options=dict(ftol=1e-12, maxiter=500))
    return res.x[:-1]


@pytest.mark.parametrize('seed', [0, 1])
def test_cagrad_solves_its_primal_problem(seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(3, 5))
    g[1] = -0.6 * g[0] + 0.3 * g[1]  # a conflicting pair
    expected = _cagrad_primal(g, 0.4)
    coef = solvers.cagrad_coefficients(torch.from_numpy(g @ g.T), c=0.4, rescale=0).numpy()
    np.testing.assert_allclose(coef @ g, expected, atol=2e-3 * np.linalg.norm(expected))
    # rescale=1 (official default) divides by 1 + c^2.
    coef1 = solvers.cagrad_coefficients(torch.from_numpy(g @ g.T), c=0.4).numpy()
    np.testing.assert_allclose(coef1, coef / 1.16, rtol=1e-6)
    # Through the balancer: the shared gradient is the same update.
    grad, _ = _surgery_grad(dict(type='CAGrad', rescale=0), g)
    np.testing.assert_allclose(grad.numpy(), expected, atol=3e-3 * np.linalg.norm(expected))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_nash_mtl_solves_the_bargaining_equations(seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(3, 4))
    k = g @ g.T
    kn = k / np.linalg.norm(k)
    sol = root(lambda a: kn @ a - 1 / a, np.ones(3))
    assert np.abs(kn @ sol.x - 1 / sol.x).max() < 1e-10 and (sol.x > 0).all()
    alpha = solvers.nash_mtl_coefficients(torch.from_numpy(k)).numpy()
    np.testing.assert_allclose(alpha, sol.x, rtol=1e-5)
    grad, _ = _surgery_grad(dict(type='NashMTL'), g)
    np.testing.assert_allclose(grad.numpy(), sol.x @ g, rtol=1e-4, atol=1e-5)


def test_imtlg_update_has_equal_projections_on_unit_gradients():
    g = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.5], [-1.0, 0.3, 1.0]])
    alpha = solvers.imtlg_coefficients(torch.from_numpy(g @ g.T)).numpy()
    d = alpha @ g
    proj = (g / np.linalg.norm(g, axis=1, keepdims=True)) @ d
    np.testing.assert_allclose(proj, proj[0], rtol=1e-9)
    assert alpha.sum() == pytest.approx(1.0)
    # Orthogonal gradients (2, 0) and (0, 1): d = (2 a1, a2) has equal projections on the
    # axes when 2 a1 = a2, so alpha = (1/3, 2/3) and d = (2/3, 2/3).
    alpha = solvers.imtlg_coefficients(_gram([[2.0, 0.0], [0.0, 1.0]])).numpy()
    np.testing.assert_allclose(alpha, [1 / 3, 2 / 3])


def test_aligned_mtl_aligns_to_orthogonal_equal_norm_gradients():
    rng = np.random.default_rng(3)
    g = rng.normal(size=(3, 5))
    k = torch.from_numpy(g @ g.T)
    lam, vec = np.linalg.eigh(g @ g.T)
    b = vec @ np.diag(np.sqrt(lam.min() / lam)) @ vec.T
    aligned = b @ g  # rows: the aligned task gradients
    gram = aligned @ aligned.T
    np.testing.assert_allclose(gram, lam.min() * np.eye(3), atol=1e-9)
    np.testing.assert_allclose(solvers.aligned_mtl_coefficients(k).numpy(), b.sum(1))


def test_pcgrad_coefficients_with_three_tasks_match_direct_projection():
    rng = np.random.default_rng(5)
    g = rng.normal(size=(3, 4))
    gen = torch.Generator().manual_seed(7)
    coef = solvers.pcgrad_coefficients(torch.from_numpy(g @ g.T), gen).numpy()
    gen = torch.Generator().manual_seed(7)
    total = np.zeros(4)
    for i in range(3):
        gi = g[i].copy()
        for j in torch.randperm(3, generator=gen).tolist():
            if j != i and gi @ g[j] < 0:
                gi = gi - gi @ g[j] / (g[j] @ g[j]) * g[j]
        total += gi
    np.testing.assert_allclose(coef @ g, total, rtol=1e-10)


def _run_balancer(cfg, loss_rows):
    """Feed successive loss vectors to a weighting balancer; return the logged weights."""
    toy = _Toy(1)
    balancer = MODELS.build(cfg)
    names = [f'loss_t{i}' for i in range(len(loss_rows[0]))]
    balancer.bind(toy, names)
    weights = []
    for row in loss_rows:
        _, log_vars = balancer({n: torch.tensor(v) for n, v in zip(names, row)}, toy)
        weights.append([float(log_vars[f'w_t{i}']) for i in range(len(row))])
    return weights


def test_dwa_weights_from_a_loss_history():
    # period 2: the period averages are (2, 4), (1, 4), then (1, 2).
    rows = [[3.0, 4.0], [1.0, 4.0], [0.5, 5.0], [1.5, 3.0], [1.0, 2.0], [1.0, 2.0], [9.0, 9.0]]
    w = _run_balancer(dict(type='DWA', period=2, temperature=2.0), rows)
    assert w[:4] == [[1.0, 1.0]] * 4  # the first two periods

    def dwa(r):
        e = np.exp(np.asarray(r) / 2.0)
        return 2 * e / e.sum()

    np.testing.assert_allclose(w[4], dwa([1 / 2, 4 / 4]), rtol=1e-6)
    np.testing.assert_allclose(w[5], dwa([1 / 2, 4 / 4]), rtol=1e-6)
    np.testing.assert_allclose(w[6], dwa([1 / 1, 2 / 4]), rtol=1e-6)


def test_uncertainty_weighting_gradients_wrt_log_variances():
    toy = _Toy(1)
    balancer = MODELS.build(dict(type='UncertaintyWeighting'))
    balancer.bind(toy, ['loss_semseg', 'loss_depth'])
    assert balancer.factors.tolist() == [1.0, 0.5]  # classification, regression
    auto = MODELS.build(dict(type='UncertaintyWeighting'))
    auto.bind(toy, ['loss_semseg', 'loss_depth', 'loss_normals', 'loss_edge', 'loss_sal'])
    assert auto.factors.tolist() == [1.0, 0.5, 0.5, 1.0, 1.0]
    with torch.no_grad():
        balancer.log_vars.copy_(torch.tensor([0.3, -0.2]))
    losses = {'loss_semseg': torch.tensor(2.0), 'loss_depth': torch.tensor(0.5)}
    loss, log_vars = balancer(losses, toy)
    # L = exp(-s1) L1 + s1/2 + 1/2 exp(-s2) L2 + s2/2
    expected = math.exp(-0.3) * 2 + 0.15 + 0.5 * math.exp(0.2) * 0.5 - 0.1
    assert float(loss.detach()) == pytest.approx(expected)
    loss.backward()
    expected = [-math.exp(-0.3) * 2.0 + 0.5, -0.5 * math.exp(0.2) * 0.5 + 0.5]
    np.testing.assert_allclose(balancer.log_vars.grad.numpy(), expected, rtol=1e-6)
    assert float(log_vars['w_depth']) == pytest.approx(0.5 * math.exp(0.2))
    # All-regression form on request.
    balancer = MODELS.build(dict(type='UncertaintyWeighting', classification=()))
    balancer.bind(toy, ['loss_semseg', 'loss_depth'])
    assert balancer.factors.tolist() == [0.5, 0.5]


def test_rlw_geometric_and_famo_weights():
    w = _run_balancer(dict(type='RLW', seed=3), [[1.0, 2.0, 3.0]] * 2)
    gen = torch.Generator().manual_seed(3)
    expected = torch.softmax(torch.randn(3, generator=gen), 0)
    np.testing.assert_allclose(w[0], expected.numpy(), rtol=1e-6)
    assert sum(w[1]) == pytest.approx(1.0) and w[1] != w[0]
    w = _run_balancer(dict(type='GeometricMeanLoss'), [[1.0, 4.0]])
    np.testing.assert_allclose(w[0], [2.0 / 2, 2.0 / 8])  # L = sqrt(L1 L2), dL/dLi = L/(2Li)
    w = _run_balancer(dict(type='GeometricMeanLoss', log=True), [[1.0, 4.0]])
    np.testing.assert_allclose(w[0], [1.0, 0.25])
    # FAMO: equal logits at first; the task whose loss fell less gets a larger logit.
    toy = _Toy(1)
    famo = MODELS.build(dict(type='FAMO'))
    famo.bind(toy, ['loss_a', 'loss_b'])
    famo({'loss_a': torch.tensor(2.0), 'loss_b': torch.tensor(2.0)}, toy)
    _, log_vars = famo({'loss_a': torch.tensor(1.0), 'loss_b': torch.tensor(1.9)}, toy)
    assert float(log_vars['z_b']) > 0.5 > float(log_vars['z_a'])
    # First Adam step moves each logit by -lr * sign(grad).
    assert famo.logits.tolist() == pytest.approx([-0.025, 0.025], abs=1e-6)


# ------------------------------------------------------------------------ model integration
def _train(balancer, steps=2, optim_wrapper=None, batch=None):
    model = build_model(balancer)
    ow = optim_wrapper(model) if optim_wrapper else OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1))
    batch = batch or make_batch(4)
    log_vars = None
    for _ in range(steps):
        log_vars = model.train_step(copy.deepcopy(batch), ow)
    return model, log_vars


def test_default_is_bit_for_bit_the_plain_sum():
    plain, lv_plain = _train(None)
    fixed, lv_fixed = _train(dict(type='FixedWeights'))
    assert float(lv_plain['loss'].detach()) == float(lv_fixed['loss'])
    for (n, a), (_, b) in zip(plain.named_parameters(), fixed.named_parameters()):
        assert torch.equal(a, b), n
    # and the sum is what today's loss() / parse_losses produce
    model = build_model()
    data = model.data_preprocessor(make_batch(2), True)
    losses = model(**data, mode='loss')
    assert torch.equal(model.parse_losses(losses)[0], sum(losses.values()))
    # weights multiply the losses
    weighted = build_model(dict(type='FixedWeights', weights=dict(depth=2.0)))
    data = weighted.data_preprocessor(make_batch(2), True)
    losses = weighted(**data, mode='loss')
    loss, log_vars = weighted.parse_losses(losses)
    torch.testing.assert_close(loss, losses['loss_semseg'] + 2 * losses['loss_depth']
                               + losses['loss_normals'])
    assert float(log_vars['w_depth']) == 2.0


def _manual_grads(model, data, coef_fn, level):
    """Expected gradients: shared part sum_i c_i g_i, the rest sum_i grad L_i."""
    losses = model(**data, mode='loss')
    terms = list(losses.values())
    params = dict(model.named_parameters())
    shared = [n for n in params if n.startswith('backbone.')]
    others = [n for n in params if n not in shared]
    if level == 'parameters':
        rows = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(
            t, [params[n] for n in shared], retain_graph=True)]) for t in terms]
    else:
        feats = model.extract_feat(data['inputs'])
        logits = model.decode_head(feats)
        terms = [model.losses[t](model._resize(logits[t], g.shape[-2:]), g) for t, g in zip(
            model.tasks, [torch.stack([s.get(f'gt_{t}').data for s in data['data_samples']])
                          for t in model.tasks])]
        rows = [torch.autograd.grad(t, feats[0], retain_graph=True)[0].reshape(-1)
                for t in terms]
    g = torch.stack(rows)
    coef = coef_fn((g @ g.T).double()).float()
    expected = {}
    weighted = sum(c * t for c, t in zip(coef, terms))
    for n, v in zip(shared, torch.autograd.grad(weighted, [params[n] for n in shared],
                                                retain_graph=True)):
        expected[n] = v
    for n, v in zip(others, torch.autograd.grad(sum(terms), [params[n] for n in others])):
        expected[n] = v
    return expected


@pytest.mark.parametrize('cfg,level,coef_fn', [
    (dict(type='MGDA', level='parameters'), 'parameters', solvers.mgda_min_norm),
    (dict(type='AlignedMTL'), 'parameters', solvers.aligned_mtl_coefficients),
    (dict(type='IMTLG'), 'representation', solvers.imtlg_coefficients),
    (dict(type='MGDA'), 'representation', solvers.mgda_min_norm),
])
def test_surgery_gradients_on_a_model(cfg, level, coef_fn):
    model = build_model(cfg)
    data = model.data_preprocessor(make_batch(2), True)
    expected = _manual_grads(model, copy.deepcopy(data), coef_fn, level)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    model.zero_grad()
    loss.backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[n], rtol=1e-4, atol=1e-6, msg=n)
    assert {'w_semseg', 'gnorm_depth', 'cos_depth_normals'} <= set(log_vars)
    assert float(log_vars['loss']) == pytest.approx(
        sum(float(v.detach()) for v in losses.values()), rel=1e-6)


def test_gradnorm_weight_gradient_and_renormalisation():
    model = build_model(dict(type='GradNorm', alpha=1.5))
    balancer = model.loss_balancer
    with torch.no_grad():
        balancer.weights.copy_(torch.tensor([2.0, 2.0, 2.0]))  # renormalised to sum T
    data = model.data_preprocessor(make_batch(2), True)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert balancer.weights.detach().tolist() == pytest.approx([1.0, 1.0, 1.0])
    loss.backward()
    norms = torch.tensor([float(log_vars[f'gnorm_{t}']) for t in model.tasks])
    # first iteration: loss ratios 1, target = mean(w n) = mean(n)
    expected = torch.sign(norms - norms.mean()) * norms
    torch.testing.assert_close(balancer.weights.grad, expected, rtol=1e-4, atol=1e-7)


def test_paper_defaults_of_gradnorm_and_mgda():
    # GradNorm's NYUv2 alpha; MGDA-UB without gradient normalisation, on the features (the
    # paper's algorithm, LibMTL's and Nash-MTL's default; see the class docstrings).
    assert MODELS.build(dict(type='GradNorm')).alpha == 1.5
    mgda = MODELS.build(dict(type='MGDA'))
    assert mgda.normalization == 'none' and mgda.default_level == 'representation'


@pytest.mark.parametrize('normalization,losses,expected', [
    ('none', [1.0, 1.0], [0.2, 0.8]),  # min-norm point of (2, 0) and (0, 1)
    ('l2', [1.0, 1.0], [0.5, 0.5]),  # of the unit vectors
    ('loss', [2.0, 1.0], [0.5, 0.5]),  # of (2, 0) / 2 and (0, 1) / 1
    ('loss+', [1.0, 2.0], [0.2, 0.8]),  # of (2, 0) / 2 and (0, 1) / 2
])
def test_mgda_gradient_normalisations(normalization, losses, expected):
    mgda = MODELS.build(dict(type='MGDA', normalization=normalization))
    alpha = mgda.coefficients(_gram([[2.0, 0.0], [0.0, 1.0]]),
                              torch.tensor(losses, dtype=torch.float64))
    np.testing.assert_allclose(alpha.numpy(), expected, atol=1e-6)


def test_balancer_errors():
    with pytest.raises(ValueError, match='level'):
        build_model(dict(type='PCGrad', level='layers'))
    with pytest.raises(ValueError, match='no trainable parameter'):
        build_model(dict(type='PCGrad', shared=['encoder']))
    with pytest.raises(ValueError, match='representation'):
        build_model(dict(type='MGDA', representation='decoder'))
    with pytest.raises(ValueError, match='unknown tasks'):
        build_model(dict(type='FixedWeights', weights=dict(sal=2.0)))
    model = build_model(dict(type='FixedWeights'))
    with pytest.raises(ValueError, match='bound to'):
        model.parse_losses({'loss_semseg': torch.tensor(1.0)})


class _ListDataset(torch.utils.data.Dataset):

    def __init__(self, batch):
        self.items = [dict(inputs=i, data_samples=s)
                      for i, s in zip(batch['inputs'], batch['data_samples'])]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return copy.deepcopy(self.items[idx])


def test_weights_norms_and_cosines_appear_in_the_training_log(tmp_path):
    from mmengine.runner import Runner

    runner = Runner(
        model=build_model(dict(type='PCGrad')), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=_ListDataset(make_batch(4)), batch_size=2,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate'), num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=2),
                           checkpoint=dict(type='CheckpointHook', interval=100)),
        default_scope='mmdense', experiment_name='mtl_log_test')
    runner.train()
    log = next(tmp_path.rglob('*.log')).read_text()
    lines = [ln for ln in log.splitlines() if '(train)' in ln and 'loss:' in ln]
    assert len(lines) == 2  # iterations 2 and 4
    for line in lines:
        for key in ('w_semseg:', 'w_normals:', 'gnorm_depth:', 'cos_semseg_depth:',
                    'cos_depth_normals:'):
            assert key in line, (key, line)


def test_accumulation_averages_the_balanced_micro_batch_gradients():
    batches = [make_batch(2, seed=11), make_batch(2, seed=12)]
    model = build_model(dict(type='PCGrad'))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for batch in batches:
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        model.zero_grad()
        loss.backward()
        for n, p in model.named_parameters():
            expected[n] += p.grad / 2
    model.zero_grad()
    model.loss_balancer.draws.zero_()  # the same projection orders again
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)
    for batch in batches:
        model.train_step(copy.deepcopy(batch), optim)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[n] - 0.1 * expected[n], rtol=1e-5,
                                   atol=1e-7, msg=n)
