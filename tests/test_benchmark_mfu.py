"""MFU arithmetic and GPU peak lookup of the benchmark tool (pure functions, CPU)."""
import pytest

from mmdense.utils.perf import lookup_peak_tflops, mfu, step_flops


@pytest.mark.parametrize('name,peak', [
    ('NVIDIA A100-SXM4-40GB', 312.0),
    ('NVIDIA A100-SXM4-80GB', 312.0),
    ('NVIDIA A100 80GB PCIe', 312.0),
    ('NVIDIA H100 80GB HBM3', 989.0),
    ('NVIDIA H100 PCIe', 756.0),
    ('NVIDIA H100 NVL', 835.0),
    ('NVIDIA H200', 989.0),
    ('NVIDIA H200 NVL', 989.0),
    ('NVIDIA GeForce RTX 4090', None),
    ('', None),
])
def test_lookup_peak_tflops(name, peak):
    assert lookup_peak_tflops(name) == peak


def test_step_flops_convention():
    # 10 GFLOPs counted (multiply-adds) per image, batch 8: inference 2*10e9*8, train 3x that.
    assert step_flops(10e9, 8, train=False) == pytest.approx(160e9)
    assert step_flops(10e9, 8, train=True) == pytest.approx(480e9)
    with pytest.raises(ValueError, match='batch_size'):
        step_flops(10e9, 0, train=True)


def test_mfu_hand_computed():
    # DeMT-like: 100 GMACs/image, batch 8, train step 0.5 s on a 989 TFLOP/s device:
    # 2 * 100e9 * 8 * 3 = 4.8e12 FLOPs per step -> 9.6e12 FLOP/s -> 9.6 / 989 = 0.97 %.
    flops = step_flops(100e9, 8, train=True)
    assert flops == pytest.approx(4.8e12)
    assert mfu(flops, 0.5, 989.0) == pytest.approx(9.6 / 989.0)
    assert mfu(312e12, 1.0, 312.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match='positive'):
        mfu(flops, 0.0, 989.0)
    with pytest.raises(ValueError, match='positive'):
        mfu(flops, 1.0, 0.0)


@pytest.mark.slow
def test_benchmark_reports_mfu_on_cpu_with_given_peak(tmp_path):
    """The tool's MFU is the counted FLOPs through step_flops over the median step time."""
    import json

    from tests.helpers.run_tool import run_tool
    out = tmp_path / 'bench.json'
    run_tool('tools/analysis_tools/benchmark.py', 'configs/demt/quickstart_synthetic-nyud.py',
             '--shape', '64', '64', '--batch-size', '2', '--repeat', '1', '--warmup', '0',
             '--device', 'cpu', '--amp', '--channels-last', '--peak-tflops', '2',
             '--json', str(out))
    res = json.loads(out.read_text())
    assert res['forward_flops_per_image'] > 0
    assert res['amp_dtype'] == 'bf16' and res['channels_last']
    for prefix, train in (('inference', False), ('train_step', True)):
        expected = mfu(step_flops(res['forward_flops_per_image'], 2, train),
                       res[f'{prefix}_ms'] / 1000, 2.0)
        assert res[f'{prefix}_mfu'] == pytest.approx(expected)
        assert res[f'{prefix}_fps'] == pytest.approx(2000 / res[f'{prefix}_ms'])


def test_benchmark_cuda_without_gpu_fails_clearly():
    import torch
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    from tests.helpers.run_tool import run_tool
    proc = run_tool('tools/analysis_tools/benchmark.py',
                    'configs/demt/quickstart_synthetic-nyud.py', '--device', 'cuda', '--no-flops',
                    check=False, timeout=300)
    assert proc.returncode == 2
    assert 'CUDA is not available' in proc.stderr
