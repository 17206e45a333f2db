"""Checkpoints are loaded safely everywhere (mmdense/utils/checkpoint.py, issue 14 items 1, 3, 9).

A checkpoint whose unpickling would run code (it writes a marker file) is refused by every
loader and converter, and the marker never appears; mmengine's own checkpoints still load and
resume without the ``--unsafe-load`` opt-in; corrupt files give one line naming the path.
"""
import importlib.util
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel, BaseModule
from mmengine.runner import Runner, load_checkpoint
from torch.utils.data import Dataset

import mmdense  # noqa: F401  (routes mmengine's local loader through the safe one)
from mmdense.utils.checkpoint import (
    UNSAFE_LOAD_ENV,
    CheckpointError,
    UnsafeCheckpointError,
    UnsafeLoadWarning,
    check_checkpoint_fits,
    find_state_dict,
    load_checkpoint_file,
    safe_globals,
    unsafe_load,
)
from tests.helpers.unsafe_checkpoints import garbage_files, write_evil

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONVERTERS = ('dat2mmdense', 'demt2mmdense', 'hrformer2mmdense', 'kmax2mmdense', 'mpvit2mmdense')


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'PWNED'
    yield path
    assert not os.environ.get(UNSAFE_LOAD_ENV), 'the opt-in leaked out of a test'


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', 'model_converters', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------ the loader itself


@pytest.mark.parametrize('name,legacy', [('evil.pth', False), ('evil_legacy.pth', True),
                                         ('evil.pkl', False)])
def test_code_in_a_checkpoint_is_refused_unless_opted_in(tmp_path, marker, name, legacy):
    path = write_evil(tmp_path / name, marker, legacy)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(path)
    message = str(err.value)
    assert path in message and '--unsafe-load' in message and '\n' not in message
    assert not marker.exists()
    # The payload is real: with the explicit opt-in it runs, and the opt-in warns.
    with pytest.warns(UnsafeLoadWarning, match='arbitrary code'):
        load_checkpoint_file(path, unsafe=True)
    assert marker.exists()


def test_env_var_opt_in_and_context_manager(tmp_path, marker, monkeypatch):
    path = write_evil(tmp_path / 'evil.pth', marker)
    with unsafe_load(), pytest.warns(UnsafeLoadWarning):
        load_checkpoint_file(path)
    assert marker.exists()
    marker.unlink()
    monkeypatch.setenv(UNSAFE_LOAD_ENV, '0')
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint_file(path)
    monkeypatch.delenv(UNSAFE_LOAD_ENV)
    assert not marker.exists()


def test_getattr_is_only_allowed_for_history_buffer_statistics(tmp_path):
    # mmengine pickles getattr(HistoryBuffer, 'min'); any other getattr stays refused.
    from mmengine.logging import HistoryBuffer

    class Sneaky:
        def __reduce__(self):
            return getattr, (HistoryBuffer, '__init__')

    path = str(tmp_path / 'getattr.pth')
    torch.save(dict(x=Sneaky()), path)
    with pytest.raises(UnsafeCheckpointError, match='getattr.pth'):
        load_checkpoint_file(path)


def test_numpy_pkl_loads_without_opt_in(tmp_path):
    weights = {'stem.conv1.weight': np.arange(6, dtype=np.float32).reshape(2, 3)}
    path = str(tmp_path / 'R-50.pkl')
    with open(path, 'wb') as f:
        pickle.dump(dict(model=weights, __author__='torchvision', matching_heuristics=True), f,
                    protocol=2)
    state = find_state_dict(load_checkpoint_file(path), path, keys=('model', ))
    assert torch.equal(state['stem.conv1.weight'], torch.arange(6.).reshape(2, 3))


def test_corrupt_files_give_one_line_naming_the_path(tmp_path):
    for name, path in garbage_files(tmp_path).items():
        with pytest.raises(CheckpointError) as err:
            load_checkpoint_file(path)
        assert path in str(err.value) and '\n' not in str(err.value), name
        # mmengine's loaders (load_from, init_cfg=Pretrained) go through the same function.
        with pytest.raises(CheckpointError, match=name):
            load_checkpoint(torch.nn.Linear(64, 64), path)


# --------------------------------------------------------------- mmengine's loading paths


class Tiny(BaseModule):

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.fc = torch.nn.Linear(2, 1)


def test_load_from_and_pretrained_refuse_code(tmp_path, marker):
    path = write_evil(tmp_path / 'evil.pth', marker)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        load_checkpoint(Tiny(), path)  # what load_from and init_model use
    model = Tiny(init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        model.init_weights()
    assert not marker.exists()


def test_init_model_refuses_code_and_loads_a_safe_checkpoint(tmp_path, marker):
    from mmdense.apis import init_model
    from mmdense.registry import MODELS

    MODELS.register_module('SafetyTinyNet', module=Tiny, force=True)
    cfg = Config(dict(model=dict(type='SafetyTinyNet'), default_scope='mmdense'))
    path = write_evil(tmp_path / 'evil.pth', marker)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        init_model(cfg, path)
    assert not marker.exists()
    good = str(tmp_path / 'good.pth')
    weights = Tiny().state_dict()
    torch.save(dict(state_dict=weights, meta=dict(dataset_meta=dict(classes=('a', 'b')))), good)
    model = init_model(cfg, good)
    assert torch.equal(model.fc.weight, weights['fc.weight'])
    assert model.dataset_meta['classes'] == ('a', 'b')


# -------------------------------------------------------------------------- the converters


@pytest.mark.parametrize('tool,suffix', [(tool, '.pth') for tool in CONVERTERS] +
                         [('kmax2mmdense', '.pkl')])
def test_every_converter_refuses_code(tmp_path, marker, capsys, tool, suffix):
    src = write_evil(tmp_path / f'official{suffix}', marker)
    dst = tmp_path / 'out.pth'
    assert load_tool(tool).main([src, str(dst)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'{tool}: error: {src}') and '--unsafe-load' in err
    assert '\n' not in err
    assert not marker.exists() and not dst.exists()


@pytest.mark.parametrize('tool', CONVERTERS)
def test_every_converter_unsafe_load_flag_is_the_opt_in(tmp_path, marker, tool):
    src = write_evil(tmp_path / 'official.pth', marker)
    with pytest.warns(UnsafeLoadWarning):
        load_tool(tool).main([src, str(tmp_path / 'out.pth'), '--unsafe-load'])
    assert marker.exists()  # the flag reached the loader (the file then fails conversion)


@pytest.mark.parametrize('tool', CONVERTERS)
def test_every_converter_names_a_corrupt_file(tmp_path, capsys, tool):
    files = garbage_files(tmp_path)
    names = ['garbage.pth', 'truncated.pth'] + (['garbage.pkl'] if tool == 'kmax2mmdense' else [])
    for name in names:
        assert load_tool(tool).main([files[name], str(tmp_path / 'out.pth')]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f'{tool}: error: {files[name]}') and '\n' not in err, err


# ----------------------------------------------- mmengine's own checkpoints: no opt-in needed


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)
        self.bn = torch.nn.BatchNorm1d(1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.bn(self.fc(inputs)).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - labels.float())**2).mean())
        return [dict(pred=o) for o in out]


class ToyDataset(Dataset):

    def __init__(self, metainfo):
        self.metainfo = metainfo

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]), labels=torch.tensor(i % 2))


def _toy_metric():
    from mmengine.evaluator import BaseMetric

    class ToyMetric(BaseMetric):

        def process(self, data_batch, data_samples):
            self.results.extend(float(d['pred']) for d in data_samples)

        def compute_metrics(self, results):  # numpy scalars, as mmseg's metrics give
            return dict(score=np.float64(np.mean(results)), count=np.int64(len(results)))

    return ToyMetric()


def toy_runner(work_dir, metainfo=None, optim_wrapper=None, param_scheduler=None, **kwargs):
    loader = dict(dataset=ToyDataset(metainfo or dict(classes=('a', 'b'))), batch_size=2,
                  num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='default_collate'))
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), train_dataloader=loader,
        val_dataloader=loader, val_evaluator=[_toy_metric()], val_cfg=dict(),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=2),
        optim_wrapper=optim_wrapper or dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=param_scheduler or [
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
            dict(type='PolyLR', power=1.0, by_epoch=False, begin=2, end=4)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), default_scope='mmdense', **kwargs)


def test_runner_checkpoint_resumes_without_opt_in(tmp_path):
    work = tmp_path / 'work'
    first = toy_runner(work)
    first.train()
    ckpt = str(work / 'iter_2.pth')
    # What mmengine 0.10.7 pickles beyond tensors: exactly what the safe loader allows.
    allowed = {name for _, name in (g if isinstance(g, tuple) else
                                    (g, f'{g.__module__}.{g.__qualname__}')
                                    for g in safe_globals())}
    found = set(torch.serialization.get_unsafe_globals_in_checkpoint(ckpt))
    assert {'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr'} <= found
    assert found <= allowed
    with pytest.raises(Exception, match='Unsupported global'):  # torch alone refuses it
        torch.load(ckpt, weights_only=True)

    resumed = toy_runner(tmp_path / 'work2', load_from=ckpt, resume=True)
    resumed.train()
    assert resumed.iter == 4
    final, reference = (torch.load(str(w / 'iter_4.pth'), weights_only=False)['state_dict']
                        for w in (tmp_path / 'work2', work))
    for key in reference:
        torch.testing.assert_close(final[key], reference[key])
    assert resumed.message_hub.get_scalar('val/score') is not None


def _family_meta(cfg):
    if cfg.get('default_scope') == 'mmpose':
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        return parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))
    from mmdense.apis.inference import _dataset_meta_from_config
    return _dataset_meta_from_config(cfg)


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'configs/demt/nyud_hrnet.py',
    'configs/mpvit/upernet_mpvit-t_8xb2-160k_ade20k-512x512.py',
    'configs/dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py',
    'configs/hrformer/td-hm_hrformer-small_8xb32-210e_coco-256x192.py',
    'configs/kmax/kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py',
])
def test_each_family_runner_checkpoint_resumes_without_opt_in(tmp_path, config):
    """What a family adds to a Runner checkpoint beyond its weights (tensors): its dataset
    meta (numpy arrays for pose), optimizer and schedulers, saved by a real Runner."""
    from mmdense.utils import adapt_cfg_amp_for_cpu

    cfg = Config.fromfile(osp.join(REPO, config))
    adapt_cfg_amp_for_cpu(cfg)
    optim_wrapper = cfg.optim_wrapper.to_dict()
    optim_wrapper.pop('paramwise_cfg', None)  # custom keys name modules of the real model
    meta = _family_meta(cfg)
    assert meta
    runner = toy_runner(tmp_path / 'work', metainfo=meta, optim_wrapper=optim_wrapper,
                        param_scheduler=cfg.param_scheduler, cfg=cfg)
    runner.train()
    ckpt = str(tmp_path / 'work' / 'iter_2.pth')
    loaded = load_checkpoint_file(ckpt)
    assert set(loaded['meta']['dataset_meta']) == set(meta)
    resumed = toy_runner(tmp_path / 'work2', metainfo=meta, optim_wrapper=optim_wrapper,
                         param_scheduler=cfg.param_scheduler, load_from=ckpt, resume=True)
    resumed.train()
    assert resumed.iter == 4


# ------------------------------------------------------------------- strict fit (test.py)


def test_check_checkpoint_fits_lists_every_kind_of_mismatch():
    model = Tiny()
    good = dict(state_dict={'module.' + k: v for k, v in model.state_dict().items()})
    assert not any(check_checkpoint_fits(model, good, 'good.pth').values())
    bad = dict(state_dict={'fc.weight': torch.zeros(3, 2), 'extra.bias': torch.zeros(1)})
    with pytest.raises(CheckpointError) as err:
        check_checkpoint_fits(model, bad, 'bad.pth')
    message = str(err.value)
    for part in ('bad.pth', '1 missing keys (fc.bias)', '1 unexpected keys (extra.bias)',
                 'fc.weight: checkpoint [3, 2] vs model [1, 2]', '--allow-partial'):
        assert part in message, part
    with pytest.warns(UserWarning, match='partial load'):
        mismatch = check_checkpoint_fits(model, bad, 'bad.pth', strict=False)
    assert mismatch['missing'] == ['fc.bias']
    with pytest.raises(CheckpointError, match='missing keys'):
        check_checkpoint_fits(model, dict(state_dict={}), 'empty.pth')


def test_check_checkpoint_fits_looks_through_tta_wrapper():
    from mmengine.model import BaseTTAModel

    class TTA(BaseTTAModel):

        def merge_preds(self, data_samples_list):
            return data_samples_list[0]

    inner = ToyModel()
    checkpoint = dict(state_dict=inner.state_dict())
    assert not any(check_checkpoint_fits(TTA(module=inner), checkpoint, 'x.pth').values())


def test_unsafe_load_of_a_missing_module_is_named(tmp_path):
    import sys
    import types

    module = types.ModuleType('yacs_stand_in')

    class CfgNode(dict):
        pass

    CfgNode.__module__ = module.__name__
    CfgNode.__qualname__ = 'CfgNode'
    module.CfgNode = CfgNode
    sys.modules[module.__name__] = module
    path = str(tmp_path / 'with_config.pth')
    try:
        torch.save(dict(model={'w': torch.zeros(1)}, config=CfgNode(a=1)), path)
    finally:
        del sys.modules[module.__name__]
    with pytest.raises(UnsafeCheckpointError, match='yacs_stand_in.CfgNode'):
        load_checkpoint_file(path)
    with pytest.warns(UnsafeLoadWarning), pytest.raises(CheckpointError,
                                                        match='missing module.*yacs_stand_in'):
        load_checkpoint_file(path, unsafe=True)


def test_downloaded_checkpoints_are_loaded_safely(tmp_path, marker, monkeypatch):
    """http(s):// and open-mmlab:// weights: torch.hub would unpickle them fully."""
    import shutil

    served = {'https://example.com/evil.pth': write_evil(tmp_path / 'evil.pth', marker)}
    good = str(tmp_path / 'good.pth')
    torch.save(dict(state_dict=Tiny().state_dict()), good)
    served['https://example.com/good.pth'] = good

    def fake_download(url, dst, hash_prefix=None, progress=True):
        shutil.copy(served[url], dst)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        load_checkpoint(Tiny(), 'https://example.com/evil.pth')
    assert not marker.exists()
    model = Tiny()
    load_checkpoint(model, 'https://example.com/good.pth')
    assert torch.equal(model.fc.weight, torch.load(good)['state_dict']['fc.weight'])
    assert osp.isfile(tmp_path / 'hub' / 'checkpoints' / 'good.pth')  # torch.hub's cache
