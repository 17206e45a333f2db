"""Measure inference and train-step time of a config's model (CPU or GPU).

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] [--shape H W]
        [--batch-size 2] [--threads 2] [--repeat 3] [--warmup 1] [--device cpu|cuda]
        [--mode both|inference|train] [--amp] [--amp-dtype bf16|fp16]
        [--channels-last] [--compile] [--peak-tflops T] [--no-flops]

Inputs are random images of the given shape. Inference is the network forward without
gradients (``mode='tensor'``: backbone + neck + heads, no post-processing). A train step is the
same forward in train mode, a backward pass of a scalar reduction of every output, and an
optimizer step (SGD), so it measures the network, not the loss terms or the data pipeline. Each
figure is the median of ``--repeat`` timed runs after ``--warmup`` untimed ones. The official
code's numbers in the method READMEs were measured in the same way. Like tools/train.py and
tools/test.py, it first calls ``mmdense.utils.tune_cpu_allocator`` (glibc keeps freed activation
pages); ``--no-tune-allocator`` measures with the malloc defaults.

Reported: time per step, throughput (images/s), on CUDA the peak allocated memory
(``torch.cuda.max_memory_allocated``) and the model FLOPs utilisation (MFU): the forward FLOPs
counted by mmengine at batch 1 (as tools/analysis_tools/get_flops.py), converted to hardware
FLOPs per step as :mod:`mmdense.utils.perf` states (multiply-add = 2 FLOPs; train step = 3
forwards), over the measured step time and the device's dense bf16 peak (``--peak-tflops``, or
looked up from the device name for A100/H100/H200). ``--amp`` autocasts to ``--amp-dtype``
(bf16 by default; fp16 adds a gradient scaler to the train step). ``--compile`` times
``torch.compile``d forwards (compilation happens in the warm-up runs).
"""
import argparse
import json
import statistics
import sys
import time

import torch
from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', help='optional checkpoint to load')
    parser.add_argument('--shape', type=int, nargs='+', default=[512, 512], help='H W')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch default)')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--mode', choices=['both', 'inference', 'train'], default='both')
    parser.add_argument('--amp', action='store_true', help='autocast to --amp-dtype')
    parser.add_argument('--amp-dtype', choices=['bf16', 'fp16'], default='bf16',
                        help='autocast dtype (default bf16; fp16 trains with a grad scaler)')
    parser.add_argument('--channels-last', action='store_true',
                        help='model and inputs in channels-last memory format')
    parser.add_argument('--compile', action='store_true', help='torch.compile the model')
    parser.add_argument('--peak-tflops', type=float, default=None,
                        help='device dense bf16 peak for the MFU (default: looked up on CUDA)')
    parser.add_argument('--no-flops', action='store_true',
                        help='skip the FLOP count (and so the MFU)')
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--no-tune-allocator', action='store_true',
                        help='keep glibc malloc defaults (see mmdense.utils.tune_cpu_allocator)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def _sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_it(fn, device, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def count_forward_flops(model, shape, device):
    """Forward FLOPs (multiply-add = 1) of one image, counted by mmengine; None on failure."""
    from mmengine.analysis import get_model_complexity_info

    from mmdense.utils.tensor_forward import tensor_forward

    class TensorForward(torch.nn.Module):

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return tensor_forward(self.inner, x)

    model.eval()
    inputs = torch.zeros(1, 3, *shape, device=device)
    try:
        with torch.no_grad():
            info = get_model_complexity_info(
                TensorForward(model), inputs=(inputs, ), show_table=False, show_arch=False)
    except Exception as e:  # the count is optional: report why it is missing
        print(f'warning: FLOP count failed ({type(e).__name__}: {e}); no MFU', file=sys.stderr)
        return None
    return float(info['flops'])


def main():
    args = parse_args()
    from mmengine.registry import MODELS, DefaultScope
    from mmengine.runner import load_checkpoint

    import mmdense  # noqa: F401
    from mmdense.utils import register_all_modules, tune_cpu_allocator
    from mmdense.utils.cli import UserInputError, load_config
    from mmdense.utils.perf import lookup_peak_tflops, mfu, step_flops
    from mmdense.utils.tensor_forward import sum_outputs, tensor_forward

    device_type = 'cuda' if args.device.startswith('cuda') else 'cpu'
    if device_type == 'cuda' and not torch.cuda.is_available():
        print(f'error: --device {args.device} but CUDA is not available', file=sys.stderr)
        sys.exit(2)
    # As tools/train.py and tools/test.py do; --no-tune-allocator measures without it.
    allocator_tuned = not args.no_tune_allocator and tune_cpu_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = (args.shape * 2)[:2] if len(args.shape) == 1 else args.shape[:2]
    try:
        cfg = load_config(args.config, args.cfg_options)
    except UserInputError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    scope = cfg.get('default_scope', 'mmdense')
    if scope == 'mmdense':
        register_all_modules(init_default_scope=False)
    DefaultScope.get_instance('benchmark', scope_name=scope)
    if args.device == 'cpu':
        # SyncBN needs a process group on CUDA; a single CPU process runs it as BN anyway.
        from mmengine.model import revert_sync_batchnorm
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
    else:
        model = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(args.device)
    results = dict(config=args.config, shape=[h, w], batch_size=args.batch_size,
                   threads=torch.get_num_threads(), device=args.device, amp=args.amp,
                   amp_dtype=args.amp_dtype if args.amp else None,
                   channels_last=args.channels_last, compile=args.compile,
                   allocator_tuned=allocator_tuned)
    peak = args.peak_tflops
    if device_type == 'cuda':
        results['device_name'] = torch.cuda.get_device_name(args.device)
        if peak is None:
            peak = lookup_peak_tflops(results['device_name'])
    results['peak_tflops'] = peak
    fwd_flops = None if args.no_flops else count_forward_flops(model, (h, w), args.device)
    results['forward_flops_per_image'] = fwd_flops

    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    inputs = torch.randn(args.batch_size, 3, h, w, device=args.device)
    inputs = inputs.contiguous(memory_format=memory_format)
    net = torch.compile(model) if args.compile else model
    amp_dtype = torch.bfloat16 if args.amp_dtype == 'bf16' else torch.float16

    def autocast():
        return torch.autocast(device_type, dtype=amp_dtype, enabled=args.amp)

    def measure(prefix, fn, train):
        if device_type == 'cuda':
            torch.cuda.reset_peak_memory_stats(args.device)
        med, times = time_it(fn, args.device, args.warmup, args.repeat)
        results[f'{prefix}_ms'] = med * 1000
        results[f'{prefix}_times_ms'] = [t * 1000 for t in times]
        results[f'{prefix}_fps'] = args.batch_size / med
        if device_type == 'cuda':
            results[f'{prefix}_peak_mem_mib'] = torch.cuda.max_memory_allocated(
                args.device) / 2**20
        if fwd_flops is not None and peak:
            flops = step_flops(fwd_flops, args.batch_size, train)
            results[f'{prefix}_tflops'] = flops / med / 1e12
            results[f'{prefix}_mfu'] = mfu(flops, med, peak)

    if args.mode in ('both', 'inference'):
        model.eval()

        def infer():
            with torch.no_grad(), autocast():
                tensor_forward(net, inputs)

        measure('inference', infer, train=False)
    if args.mode in ('both', 'train'):
        model.train()
        optimizer = torch.optim.SGD(
            [p for p in model.parameters() if p.requires_grad], lr=1e-6, momentum=0.9)
        scaler = torch.amp.GradScaler(device_type, enabled=args.amp and
                                      args.amp_dtype == 'fp16' and device_type == 'cuda')

        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = sum_outputs(tensor_forward(net, inputs))
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

        measure('train_step', step, train=True)
    for key in ('inference_ms', 'inference_fps', 'inference_mfu', 'inference_peak_mem_mib',
                'train_step_ms', 'train_step_fps', 'train_step_mfu', 'train_step_peak_mem_mib'):
        if key in results:
            value = results[key]
            print(f'{key}: {value:.1%}' if key.endswith('mfu') else f'{key}: {value:.1f}')
    print(json.dumps(results))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
