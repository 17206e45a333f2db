"""Measure inference and train-step time of a config's model (CPU or GPU).

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] [--shape H W]
        [--batch-size 2] [--threads 2] [--repeat 3] [--warmup 1] [--device cpu|cuda]
        [--mode both|inference|train] [--amp]

Inputs are random images of the given shape. Inference is the network forward without
gradients (``mode='tensor'``: backbone + neck + heads, no post-processing). A train step is the
same forward in train mode, a backward pass of a scalar reduction of every output, and an
optimizer step (SGD), so it measures the network, not the loss terms or the data pipeline. Each
figure is the median of ``--repeat`` timed runs after ``--warmup`` untimed ones. The official
code's numbers in the method READMEs were measured in the same way. Like tools/train.py and
tools/test.py, it first calls ``mmdense.utils.tune_cpu_allocator`` (glibc keeps freed activation
pages); ``--no-tune-allocator`` measures with the malloc defaults.
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
    parser.add_argument('--amp', action='store_true', help='autocast (bf16 on CPU, fp16 GPU)')
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


def main():
    args = parse_args()
    from mmengine.registry import MODELS, DefaultScope
    from mmengine.runner import load_checkpoint

    import mmdense  # noqa: F401
    from mmdense.utils import register_all_modules, tune_cpu_allocator
    from mmdense.utils.cli import UserInputError, load_config
    from mmdense.utils.model_inputs import sum_outputs, tensor_forward

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
    inputs = torch.randn(args.batch_size, 3, h, w, device=args.device)
    amp_dtype = torch.bfloat16 if args.device == 'cpu' else torch.float16
    device_type = 'cuda' if args.device.startswith('cuda') else 'cpu'

    def autocast():
        return torch.autocast(device_type, dtype=amp_dtype, enabled=args.amp)

    results = dict(config=args.config, shape=[h, w], batch_size=args.batch_size,
                   threads=torch.get_num_threads(), device=args.device, amp=args.amp,
                   allocator_tuned=allocator_tuned)
    if args.mode in ('both', 'inference'):
        model.eval()

        def infer():
            with torch.no_grad(), autocast():
                tensor_forward(model, inputs)

        med, times = time_it(infer, args.device, args.warmup, args.repeat)
        results['inference_ms'] = med * 1000
        results['inference_fps'] = args.batch_size / med
        results['inference_times_ms'] = [t * 1000 for t in times]
    if args.mode in ('both', 'train'):
        model.train()
        optimizer = torch.optim.SGD(
            [p for p in model.parameters() if p.requires_grad], lr=1e-6, momentum=0.9)

        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = sum_outputs(tensor_forward(model, inputs))
            loss.backward()
            optimizer.step()

        med, times = time_it(step, args.device, args.warmup, args.repeat)
        results['train_step_ms'] = med * 1000
        results['train_times_ms'] = [t * 1000 for t in times]
    for key in ('inference_ms', 'inference_fps', 'train_step_ms'):
        if key in results:
            print(f'{key}: {results[key]:.1f}')
    print(json.dumps(results))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
