"""GPU paths: fused attention kernels, deformable sampling and AMP train steps on CUDA.

Tests marked ``cuda`` are skipped without a GPU (tests/conftest.py); the others check on CPU
the dispatch rule the CUDA tests rely on.
"""
import pytest
import torch
import torch.nn.functional as F

from mmdense.models.utils import attention as attention_mod
from mmdense.models.utils.attention import dot_product_attention

# One config per family (with the backbone's attention or deformable sampling), its input size.
FAMILY_CONFIGS = {
    'demt': ('configs/demt/nyud_hrnet.py', (64, 64)),
    'demt_swin': ('configs/demt/nyud_swin-t.py', (64, 64)),
    'mpvit': ('configs/mpvit/upernet_mpvit-s_8xb2-160k_ade20k-512x512.py', (64, 64)),
    'dat': ('configs/dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py', (64, 64)),
    'hrformer_seg': ('configs/hrformer/ocrnet_hrformer-s_4xb2-150k_ade20k-520x520.py', (64, 64)),
    'hrformer_pose': ('configs/hrformer/td-hm_hrformer-small_8xb32-210e_coco-256x192.py',
                      (64, 48)),
    'kmax': ('configs/kmax/kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py', (65, 65)),
}
ATTENTION_FAMILIES = ('mpvit', 'dat', 'hrformer_seg', 'hrformer_pose')


class _Counter:
    """Wraps a function and counts its calls."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def _spy_sdpa(monkeypatch):
    spy = _Counter(F.scaled_dot_product_attention)
    monkeypatch.setattr(torch.nn.functional, 'scaled_dot_product_attention', spy)
    return spy


@pytest.mark.parametrize('keys,bias_grad,fused', [
    (49, False, False),   # windowed attention: explicit products on CPU
    (49, True, False),
    (256, False, True),
    (256, True, False),   # the fused CPU kernel does not back-propagate into the bias
])
def test_cpu_dispatch_rule(monkeypatch, keys, bias_grad, fused):
    spy = _spy_sdpa(monkeypatch)
    q, k, v = (torch.randn(2, 3, n, 8) for n in (16, keys, keys))
    bias = torch.randn(1, 3, 16, keys, requires_grad=bias_grad)
    out = dot_product_attention(q, k, v, bias)
    assert spy.calls == int(fused)
    ref = torch.softmax(q @ k.transpose(-2, -1) * 8**-0.5 + bias, dim=-1) @ v
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('keys,bias_grad', [(49, False), (49, True), (256, True)])
def test_non_cpu_devices_always_take_the_fused_kernel(monkeypatch, keys, bias_grad):
    # 'meta' stands in for 'cuda': any non-CPU device goes to F.scaled_dot_product_attention.
    spy = _spy_sdpa(monkeypatch)
    q, k, v = (torch.empty(2, 3, n, 8, device='meta') for n in (16, keys, keys))
    bias = torch.empty(1, 3, 16, keys, device='meta', requires_grad=bias_grad)
    out = dot_product_attention(q, k, v, bias)
    assert spy.calls == 1
    assert out.shape == (2, 3, 16, 8)


def _build(config, device):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, DefaultScope

    from mmdense.utils import register_all_modules
    from mmdense.utils.cli import load_config
    cfg = load_config(config)
    scope = cfg.get('default_scope', 'mmdense')
    if scope == 'mmdense':
        register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    # One process: SyncBN runs as BN.
    return revert_sync_batchnorm(model).to(device)


@pytest.mark.cuda
@pytest.mark.parametrize('family', ATTENTION_FAMILIES)
def test_attention_uses_fused_kernels_on_cuda(monkeypatch, family):
    """Forward and backward in bf16 with the math (unfused) SDPA backend disabled."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from mmdense.models.backbones import dat_layers, hrformer
    from mmdense.utils.tensor_forward import sum_outputs, tensor_forward
    config, (h, w) = FAMILY_CONFIGS[family]
    model = _build(config, 'cuda').train()
    sdpa = _spy_sdpa(monkeypatch)
    dpa = _Counter(attention_mod.dot_product_attention)
    monkeypatch.setattr(hrformer, 'dot_product_attention', dpa)
    monkeypatch.setattr(dat_layers, 'dot_product_attention', dpa)
    x = torch.randn(2, 3, h, w, device='cuda')
    fused = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
             SDPBackend.CUDNN_ATTENTION]
    with sdpa_kernel(fused), torch.autocast('cuda', dtype=torch.bfloat16):
        loss = sum_outputs(tensor_forward(model, x))
        loss.backward()
    assert sdpa.calls > 0
    # Every call of the shared helper reached the fused kernel (no explicit-product path).
    assert sdpa.calls >= dpa.calls
    assert torch.isfinite(loss)


@pytest.mark.parametrize('impl', ['sample', 'torchvision'])
def test_demt_deformable_sampling_channels_last(impl):
    """benchmark.py --channels-last: the mixer takes channels-last maps, with equal outputs."""
    from mmdense.models.heads.demt.deform import ChannelDeformConv2d
    torch.manual_seed(0)
    conv = ChannelDeformConv2d(8, 16, impl=impl)
    x = torch.randn(2, 8, 12, 10)
    ref = conv(x)
    out = conv.to(memory_format=torch.channels_last)(x.contiguous(
        memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.cuda
@pytest.mark.parametrize('impl', ['sample', 'torchvision'])
def test_demt_deformable_sampling_cuda_matches_cpu(impl):
    from mmdense.models.heads.demt.deform import ChannelDeformConv2d
    torch.manual_seed(0)
    conv = ChannelDeformConv2d(8, 16, impl=impl)
    with torch.no_grad():  # offsets of a few pixels, so the sampling is not trivial
        for p in conv.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(2, 8, 12, 10)
    outs, grads = [], []
    for device in ('cpu', 'cuda'):
        m = conv.to(device)
        xi = x.to(device).requires_grad_()
        out = m(xi)
        out.square().sum().backward()
        outs.append(out.detach().cpu())
        grads.append(xi.grad.cpu())
        m.zero_grad()
    torch.testing.assert_close(outs[1], outs[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-3, rtol=1e-3)


@pytest.mark.cuda
def test_dat_deformable_attention_cuda_matches_cpu():
    config, (h, w) = FAMILY_CONFIGS['dat']
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    model = _build(config, 'cpu').eval()
    x = torch.randn(1, 3, h, w)
    with torch.no_grad():
        ref = model.backbone(x)
        out = model.to('cuda').backbone(x.cuda())
    for o, r in zip(out, ref):
        torch.testing.assert_close(o.cpu(), r, atol=1e-3, rtol=1e-3)


@pytest.mark.cuda
@pytest.mark.parametrize('family', sorted(FAMILY_CONFIGS))
def test_amp_train_step_on_cuda(family):
    from mmdense.utils.tensor_forward import sum_outputs, tensor_forward
    config, (h, w) = FAMILY_CONFIGS[family]
    model = _build(config, 'cuda').train()
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    optimizer = torch.optim.SGD(params, lr=1e-2)
    x = torch.randn(2, 3, h, w, device='cuda')
    with torch.autocast('cuda', dtype=torch.bfloat16):
        loss = sum_outputs(tensor_forward(model, x))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    grads = [p.grad for p in params if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(not torch.equal(b, p) for b, p in zip(before, params))


GPU_CHECK = 'tools/analysis_tools/gpu_check.sh'


def _gpu_check(*args, env=None):
    import os
    import subprocess

    from tests.helpers.seg_fixture import REPO
    return subprocess.run(['bash', GPU_CHECK, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_gpu_check_parses_and_lists_its_steps():
    import os.path as osp
    import re

    from tests.helpers.seg_fixture import REPO
    assert _gpu_check('-n').returncode != 0  # not an option of the script
    proc = _gpu_check('--dry-run', '--out', 'work_dirs/x')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('cuda-tests') and '-m cuda' in lines[0]
    assert lines[1].startswith('amp-train')
    benches = {m.group(1): m.group(2) for m in
               (re.search(r'^bench-(\S+) .*?(configs/\S+\.py) --shape (.*)$', ln)
                for ln in lines) if m}
    assert set(benches) == {'demt_hrnet18', 'demt_swin-t', 'upernet_mpvit-s', 'upernet_dat-t',
                            'kmax_r50'}
    for cfg in benches.values():
        assert osp.isfile(osp.join(REPO, cfg)), cfg
    assert '--shape 448 576 --batch-size 8' in proc.stdout
    assert '--shape 1281 1281 --batch-size 4' in proc.stdout
    # Every step has a time limit; together they stay under 8 minutes.
    limits = [int(x) for x in re.findall(r'\(<= (\d+)s\)', proc.stdout)]
    assert len(limits) == 7 and sum(limits) < 480
    assert 'work_dirs/x/summary.md' in proc.stdout


def test_gpu_check_bash_syntax():
    import subprocess

    from tests.helpers.seg_fixture import REPO
    assert subprocess.run(['bash', '-n', GPU_CHECK], cwd=REPO).returncode == 0


def test_gpu_check_without_cuda_fails_clearly():
    import sys
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    import os.path as osp
    venv = osp.dirname(osp.dirname(sys.executable))
    proc = _gpu_check(env={'MMDENSE_VENV': venv})
    assert proc.returncode == 2
    assert 'no CUDA device visible' in proc.stderr
    proc = _gpu_check(env={'MMDENSE_VENV': '/nonexistent-venv'})
    assert proc.returncode == 2
    assert "run 'bash tools/run.sh install' first" in proc.stderr


def test_summary_table():
    from mmdense.utils.perf import summary_table
    ok = dict(shape=[448, 576], batch_size=8, inference_fps=120.04, inference_mfu=0.2512,
              train_step_fps=40.0, train_step_mfu=0.4, train_step_peak_mem_mib=20 * 1024)
    table = summary_table({'demt_swin-t': ok, 'kmax_r50': None,
                           'no_flops': dict(shape=[8, 8], batch_size=1)}, 'NVIDIA H100 PCIe')
    lines = table.splitlines()
    assert lines[0] == 'GPU: NVIDIA H100 PCIe'
    assert lines[4] == '| demt_swin-t | 448x576 | 8 | 120.0 | 25.1% | 40.0 | 40.0% | 20.0 |'
    assert lines[5].startswith('| kmax_r50 | failed |')
    assert lines[6] == '| no_flops | 8x8 | 1 | n/a | n/a | n/a | n/a | n/a |'
