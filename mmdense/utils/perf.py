"""Model FLOPs utilisation (MFU) arithmetic and device peak throughput, for benchmarks.

Convention (stated so that figures can be compared):

* mmengine's FLOP counter (``tools/analysis_tools/get_flops.py``) counts one multiply-add as one
  FLOP, as OpenMMLab's tables do. Hardware peaks count it as two, so the counted forward figure
  is doubled before it is compared with a peak.
* A training step costs three forwards (forward, and a backward of twice the forward's work: the
  gradients of the activations and of the weights), the convention of the PaLM paper's MFU.
  Recomputation, optimizer and data loading are not counted.
* The peak is the device's dense (not 2:4 sparse) bf16 tensor-core throughput.
"""
from __future__ import annotations

# Dense bf16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets (A100: 312 for SXM and
# PCIe; H100 SXM 989, PCIe 756, NVL 835; H200 SXM 989). The first matching entry wins, so the
# more specific names come first.
PEAK_BF16_TFLOPS: tuple[tuple[tuple[str, ...], float], ...] = (
    (('H200', ), 989.0),
    (('H100', 'PCIE'), 756.0),
    (('H100', 'NVL'), 835.0),
    (('H100', ), 989.0),  # SXM5: 'NVIDIA H100 80GB HBM3'
    (('A100', ), 312.0),
)

TRAIN_STEP_FORWARDS = 3


def lookup_peak_tflops(device_name: str) -> float | None:
    """Dense bf16 peak (TFLOP/s) of a GPU named as ``torch.cuda.get_device_name`` names it.

    Args:
        device_name: e.g. ``'NVIDIA H100 80GB HBM3'`` or ``'NVIDIA A100-SXM4-40GB'``.

    Returns:
        float | None: The peak, or None for a device not in :data:`PEAK_BF16_TFLOPS` (pass
        ``--peak-tflops`` to the benchmark then).
    """
    name = device_name.upper()
    for words, peak in PEAK_BF16_TFLOPS:
        if all(w in name for w in words):
            return peak
    return None


def step_flops(counted_forward_flops: float, batch_size: int, train: bool) -> float:
    """Hardware FLOPs of one step from the counted (multiply-add = 1) forward FLOPs of one image.

    Args:
        counted_forward_flops: Forward FLOPs of one image as mmengine counts them.
        batch_size: Images per step.
        train: A training step (3 forwards) instead of an inference step (1).

    Returns:
        float: FLOPs of the step, one multiply-add counted as two.
    """
    if counted_forward_flops < 0 or batch_size < 1:
        raise ValueError(f'need counted_forward_flops >= 0 and batch_size >= 1, got '
                         f'{counted_forward_flops} and {batch_size}')
    forwards = TRAIN_STEP_FORWARDS if train else 1
    return 2.0 * counted_forward_flops * batch_size * forwards


def mfu(flops_per_step: float, step_time_s: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation: achieved FLOP/s over the peak, in [0, 1] for a sound peak.

    Args:
        flops_per_step: Hardware FLOPs of one step (see :func:`step_flops`).
        step_time_s: Measured seconds per step.
        peak_tflops: Device peak in TFLOP/s.

    Returns:
        float: ``flops_per_step / step_time_s / (peak_tflops * 1e12)``.
    """
    if step_time_s <= 0 or peak_tflops <= 0:
        raise ValueError(f'step time and peak must be positive, got {step_time_s} s and '
                         f'{peak_tflops} TFLOP/s')
    return flops_per_step / step_time_s / (peak_tflops * 1e12)


def summary_table(results: dict[str, dict], device_name: str) -> str:
    """Markdown table of benchmark results (``tools/analysis_tools/benchmark.py --json``).

    Args:
        results: Benchmark name -> the JSON the benchmark wrote (None for a failed run).
        device_name: The GPU, named in the table's first line.

    Returns:
        str: The table, one row per benchmark; missing figures read ``n/a``.
    """

    def fmt(r, key, spec, scale=1.0):
        value = r.get(key)
        return 'n/a' if value is None else format(value * scale, spec)

    lines = [f'GPU: {device_name}', '',
             '| model | input | batch | infer img/s | infer MFU | train img/s | train MFU '
             '| train peak mem (GiB) |', '|---|---|---|---|---|---|---|---|']
    for name, r in results.items():
        if not r:
            lines.append(f'| {name} | failed | | | | | | |')
            continue
        lines.append(
            f'| {name} | {r["shape"][0]}x{r["shape"][1]} | {r["batch_size"]} '
            f'| {fmt(r, "inference_fps", ".1f")} | {fmt(r, "inference_mfu", ".1%")} '
            f'| {fmt(r, "train_step_fps", ".1f")} | {fmt(r, "train_step_mfu", ".1%")} '
            f'| {fmt(r, "train_step_peak_mem_mib", ".1f", 1 / 1024)} |')
    return '\n'.join(lines) + '\n'
