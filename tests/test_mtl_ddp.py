"""Loss balancers under DDP (2 gloo processes on CPU) equal a 1-process run at the same total
batch, on both ranks, with and without gradient accumulation."""
import copy
import os
import pickle

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.optim import OptimWrapper

from tests.helpers.mtl_fixture import build_model, make_batch, split_batch

# One method per family: loss weighting with loss-dependent state (DWA) and with learnable
# parameters (uncertainty), gradient surgery at parameter level (PCGrad, CAGrad) and at
# representation level (MGDA-UB), and GradNorm (weights trained from gradient norms).
METHODS = [
    dict(type='DWA', period=1),
    dict(type='UncertaintyWeighting'),
    dict(type='PCGrad'),
    dict(type='CAGrad'),
    dict(type='MGDA'),
    dict(type='GradNorm'),
]
STEPS = 2
PER_RANK = 2


def _run(balancer, accumulate, world, rank):
    from mmengine.model import MMDistributedDataParallel

    model = build_model(copy.deepcopy(balancer), seed=0)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.2),
                         accumulative_counts=accumulate)
    wrapped = MMDistributedDataParallel(model) if world > 1 else model
    for step in range(STEPS * accumulate):
        batch = make_batch(PER_RANK * 2, seed=100 + step)
        if world > 1:
            batch = split_batch(batch, world, rank)
        wrapped.train_step(batch, optim)
    return {n: p.detach().clone() for n, p in model.state_dict().items()}


def _worker(rank, world, store, out_dir):
    from mmdense.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank, world_size=world)
    results = {}
    for i, balancer in enumerate(METHODS):
        for accumulate in (1, 2):
            results[(i, accumulate)] = _run(balancer, accumulate, world, rank)
    with open(os.path.join(out_dir, f'rank{rank}.pkl'), 'wb') as f:
        pickle.dump(results, f)
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_ranks_equal_one_process_at_the_same_total_batch(tmp_path):
    from mmdense.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    mp.spawn(_worker, args=(2, str(tmp_path / 'store'), str(tmp_path)), nprocs=2, join=True)
    ranks = []
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.pkl', 'rb') as f:
            ranks.append(pickle.load(f))
    for i, balancer in enumerate(METHODS):
        for accumulate in (1, 2):
            r0, r1 = ranks[0][(i, accumulate)], ranks[1][(i, accumulate)]
            single = _run(balancer, accumulate, 1, 0)
            initial = build_model(copy.deepcopy(balancer), seed=0).state_dict()
            moved = 0
            for name, value in single.items():
                what = f"{balancer['type']} accumulate={accumulate} {name}"
                assert torch.equal(r0[name], r1[name]), f'ranks differ: {what}'
                torch.testing.assert_close(r0[name], value, rtol=1e-5, atol=1e-6, msg=what)
                moved += int(not torch.equal(value, initial[name]))
            assert moved > 0, balancer  # the runs did train
