"""Time mmdense's DeMT against the computation path of the official ``DemtHead``, in one process.

The official code cannot be installed here (Lightning, torch 1.7), and timings taken on other
machines of "the same kind" differ by up to 1.7x, so speed-ups are measured in one process, on
the same backbone instance, in alternation. ``OfficialPathDemtHead`` below runs the official
head's operators with its parameter names (``tests/data/demt_head_*.keys.json``):
``nn.Conv2d``/``BatchNorm2d``/``GELU`` mixers, ``torchvision.ops.deform_conv2d`` with one offset
group per channel, ``nn.MultiheadAttention`` on ``[B, N, C]`` tensors with ``batch_first=False``
(the batch is the sequence) for the task fusion, and the torch-1.7 attention path of the task
query, whose key/value reshape lets every pixel attend over the ``B x T`` (image, task) tokens
at that pixel (torch >= 1.9 refuses those shapes, so it is written out). It is a timing model,
not a port: before timing, the script checks that with converted weights mmdense's head gives
its outputs on every image run alone (batch 1), the function mmdense reproduces.

Both models share the backbone (DeMT's HRNet18-S is mmseg's HRNet, as in mmdense). Inference is
an eval-mode forward under ``torch.no_grad()`` including the final upsampling to the input size
(the official head does it); a train step is a train-mode forward, the backward of the sum of
the output means and an SGD step -- as ``tools/analysis_tools/benchmark.py``.

    python tools/analysis_tools/demt_vs_official.py configs/demt/nyud_hrnet.py \
        --shape 448 576 --batch-size 2 --threads 2 --repeat 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import deform_conv2d


class _OffsetNet(nn.Module):
    """``get_offset``: ``opt(p_0 + p_n + p_conv(x))`` with a 1-based ``p_0``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.p_conv = nn.Conv2d(channels, 18, 3, padding=1)
        self.opt = nn.Conv2d(18, 2 * channels, 3, padding=1, groups=2)

    def forward(self, x):
        b, _, h, w = x.shape
        rows = torch.arange(1, h + 1, dtype=x.dtype).view(1, h, 1).expand(9, h, w)
        cols = torch.arange(1, w + 1, dtype=x.dtype).view(1, 1, w).expand(9, h, w)
        k = torch.arange(9)
        p = torch.cat([rows + (k // 3 - 1).view(9, 1, 1), cols + (k % 3 - 1).view(9, 1, 1)])
        return self.opt(self.p_conv(x) + p.unsqueeze(0))


class _ChlSpl(nn.Module):

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.register_buffer('offset', torch.zeros(1, 2 * channels, 1, 1))
        self.get_offset = _OffsetNet(channels)

    def forward(self, x):
        return deform_conv2d(x, self.get_offset(x), self.weight, self.bias)


class _Residual(nn.Module):

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return x + self.fn(x)


class _Mixer(nn.Module):

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(nn.Sequential(
            nn.Conv2d(channels, channels, 1), nn.GELU(), nn.BatchNorm2d(channels),
            _Residual(nn.Sequential(_ChlSpl(channels), nn.GELU(), nn.BatchNorm2d(channels)))))

    def forward(self, x):
        return self.blocks(x)


class _ConvBNReLU(nn.Module):

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _torch17_task_query(attn: nn.MultiheadAttention, query, key):
    """torch 1.7's MHA path for query ``[B, HW, C]`` and key = value ``[B, T*HW, C]``."""
    b, n, c = query.shape
    heads = attn.num_heads
    hd = c // heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    q = F.linear(query, w_q, b_q) * hd ** -0.5
    k = F.linear(key, w_k, b_k)
    v = F.linear(key, w_v, b_v)
    q = q.contiguous().view(b, n * heads, hd).transpose(0, 1)
    k = k.contiguous().view(-1, n * heads, hd).transpose(0, 1)
    v = v.contiguous().view(-1, n * heads, hd).transpose(0, 1)
    out = torch.bmm(torch.bmm(q, k.transpose(1, 2)).softmax(dim=-1), v)
    out = out.transpose(0, 1).contiguous().view(b, n, c)
    return attn.out_proj(out)


class OfficialPathDemtHead(nn.Module):
    """The official ``DemtHead``'s operators and parameter names (see the module docstring)."""

    def __init__(self, in_channels, tasks, task_channels, channels=256, num_heads=4):
        super().__init__()
        self.tasks = list(tasks)
        bottleneck = sum(in_channels) // 8
        self.linear1 = nn.Sequential(nn.Linear(sum(in_channels), channels),
                                     nn.LayerNorm(channels))
        self.defor_mixers = nn.ModuleList([_Mixer(channels) for _ in self.tasks])
        self.task_fusion = nn.MultiheadAttention(channels, num_heads)
        self.smlp = nn.Sequential(nn.Linear(channels, channels), nn.LayerNorm(channels))
        self.smlp2 = nn.ModuleList([
            nn.Sequential(nn.Linear(channels, channels), nn.LayerNorm(channels))
            for _ in self.tasks])
        self.task_querys = nn.ModuleList([
            nn.MultiheadAttention(channels, num_heads) for _ in self.tasks])
        self.bottleneck = nn.ModuleDict({t: _ConvBNReLU(channels, bottleneck) for t in self.tasks})
        self.final_logits = nn.ModuleDict({
            t: nn.Conv2d(bottleneck, task_channels[t], 1) for t in self.tasks})

    def forward(self, feats, out_size):
        size = feats[0].shape[2:]
        x = torch.cat([feats[0]] + [
            F.interpolate(f, size=size, mode='bilinear', align_corners=False) for f in feats[1:]],
            dim=1)
        x = self.linear1(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        b, c, h, w = x.shape
        outs = [m(x).flatten(2).transpose(1, 2) for m in self.defor_mixers]  # [B, HW, C]
        cat = torch.cat(outs, dim=1)
        fused = self.smlp(self.task_fusion(cat, cat, cat, need_weights=False)[0])
        logits = {}
        for i, t in enumerate(self.tasks):
            y = outs[i] + self.smlp2[i](_torch17_task_query(self.task_querys[i], outs[i], fused))
            y = y.transpose(1, 2).reshape(b, c, h, w)
            y = self.final_logits[t](self.bottleneck[t](y))
            logits[t] = F.interpolate(y, size=out_size, mode='bilinear', align_corners=False)
        return logits


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a DeMT config (NYUD or PASCAL, any backbone)')
    parser.add_argument('--shape', type=int, nargs=2, default=[448, 576], metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--mode', choices=['both', 'inference', 'train'], default='both')
    return parser.parse_args()


def main():
    args = parse_args()
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS

    import mmdense  # noqa: F401
    from mmdense.models.heads.demt.demt_checkpoint import convert_demt_head
    from mmdense.utils import register_all_modules, tune_cpu_allocator
    from mmdense.utils.cli import load_config

    tune_cpu_allocator()
    torch.set_num_threads(args.threads)
    register_all_modules()
    cfg = load_config(args.config, None)
    cfg.model.backbone.init_cfg = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    head = model.decode_head
    official = OfficialPathDemtHead(head.in_channels, head.tasks, head.task_channels,
                                    head.channels, head.num_heads)
    # Official-path weights with random BN statistics, converted into mmdense's head.
    torch.manual_seed(0)
    with torch.no_grad():
        for name, buf in official.named_buffers():
            if name.endswith('running_var'):
                buf.uniform_(0.5, 1.5)
            elif name.endswith('running_mean'):
                buf.normal_(0, 0.1)
        for m in official.modules():
            if isinstance(m, _OffsetNet):
                m.p_conv.weight.normal_(0, 0.01)
    head.load_state_dict(convert_demt_head(official.state_dict(), head.tasks, head.channels))
    backbone = model.backbone
    h, w = args.shape
    inputs = torch.randn(args.batch_size, 3, h, w)

    def run_official(x):
        return official(list(backbone(x)), x.shape[2:])

    def run_mmdense(x):
        out = head(list(backbone(x)))
        return {t: F.interpolate(o, size=x.shape[2:], mode='bilinear', align_corners=False)
                for t, o in out.items()}

    model.eval()
    official.eval()
    with torch.no_grad():
        worst = 0.0
        for i in range(args.batch_size):
            ref, mine = run_official(inputs[i:i + 1]), run_mmdense(inputs[i:i + 1])
            worst = max(worst, max((ref[t] - mine[t]).abs().max().item() for t in ref))
        batched = run_mmdense(inputs)
        single = run_mmdense(inputs[-1:])
        worst = max(worst, max((batched[t][-1:] - single[t]).abs().max().item()
                               for t in batched))
    print(f'max |mmdense - official run per image| = {worst:.2e} (outputs of the heads)')
    if worst > 1e-3:
        print('error: the outputs differ; not timing', file=sys.stderr)
        sys.exit(1)

    runs = {'official': (run_official, official), 'mmdense': (run_mmdense, head)}
    optims = {name: torch.optim.SGD(list(backbone.parameters()) + list(mod.parameters()), lr=1e-6)
              for name, (_, mod) in runs.items()}

    def infer(name):
        with torch.no_grad():
            runs[name][0](inputs)

    def step(name):
        optims[name].zero_grad()
        torch.stack([v.mean() for v in runs[name][0](inputs).values()]).sum().backward()
        optims[name].step()

    results = {}
    modes = [m for m in ('inference', 'train step')
             if args.mode == 'both' or m.startswith(args.mode)]
    for mode in modes:
        train = mode == 'train step'
        model.train(train)
        official.train(train)
        fn = step if train else infer
        for name in runs:  # warm-up
            fn(name)
        # The two implementations alternate, so that a change of the machine's load hits both.
        for _ in range(args.repeat):
            for name in runs:
                start = time.perf_counter()
                fn(name)
                results.setdefault(f'{name} {mode}', []).append(time.perf_counter() - start)
    print(f'{args.config}, batch {args.batch_size}, {h}x{w}, {torch.get_num_threads()} threads, '
          f'median of {args.repeat}')
    for key, times in results.items():
        print(f'{key}: {1000 * statistics.median(times):.0f} ms '
              f'({", ".join(f"{1000 * t:.0f}" for t in times)})')
    for mode in ('inference', 'train step'):
        if f'official {mode}' in results:
            ratio = (statistics.median(results[f'official {mode}'])
                     / statistics.median(results[f'mmdense {mode}']))
            print(f'{mode}: mmdense is {ratio:.2f}x as fast')


if __name__ == '__main__':
    main()
