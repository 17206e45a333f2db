"""The upstream workarounds of mmdense/utils/compat.py do what they claim."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint

import mmdense  # noqa: F401
from mmdense.utils import adapt_cfg_for_cpu_distributed


def test_mmengine_checkpoint_with_history_buffer_loads(tmp_path):
    model = torch.nn.Linear(3, 2)
    history = HistoryBuffer()
    history.update(1.0)
    ckpt = dict(state_dict=model.state_dict(),
                message_hub=dict(log_scalars={'loss': history}),
                meta=dict(seed=np.int64(3), arr=np.arange(3)))
    path = osp.join(tmp_path, 'ckpt.pth')
    torch.save(ckpt, path)
    # torch's own default refuses this file: the patch must be what makes it load.
    with pytest.raises(Exception, match='weights_only|Unsupported global'):
        torch.load(path)
    other = torch.nn.Linear(3, 2)
    loaded = load_checkpoint(other, path, map_location='cpu')
    assert isinstance(loaded['message_hub']['log_scalars']['loss'], HistoryBuffer)
    assert torch.equal(other.weight, model.weight)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint(torch.nn.Linear(1, 1), str(tmp_path / 'missing.pth'))


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_cpu_distributed_cfg_uses_gloo_and_no_device_ids():
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
    cfg = Config(dict(launcher='none'))
    assert not adapt_cfg_for_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_init_dist_pytorch_on_cpu(monkeypatch):
    import torch.distributed as dist
    from mmengine.dist import init_dist
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', '29731')
    init_dist('pytorch', backend='nccl')
    try:
        assert dist.get_backend() == 'gloo'
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_amp_config_runs_bf16_autocast_on_cpu():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from mmdense.utils import adapt_cfg_amp_for_cpu
    cfg = Config(dict(optim_wrapper=dict(type='AmpOptimWrapper', loss_scale='dynamic',
                                         optimizer=dict(type='SGD', lr=0.1))))
    assert adapt_cfg_amp_for_cpu(cfg)
    model = torch.nn.Linear(4, 2)
    with DefaultScope.overwrite_default_scope('mmdense'):
        import mmdense.engine  # noqa: F401
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
