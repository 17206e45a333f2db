"""The DeMT config family (configs/demt/*.py): recipe, model building and end-to-end training.

Every config is loaded, its model built on CPU (SyncBN converted to BN, as the tools do on one
process) and run in tensor mode on a small input. The slow tests train through tools/train.py on
tiny PASCAL-Context and NYUD-v2 trees in the real on-disk formats.
"""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm

from mmdense.registry import MODELS
from mmdense.utils import register_all_modules
from tests.helpers.multitask_fixtures import write_nyud_fixture, write_pascal_fixture
from tests.helpers.run_tool import run_tool
from tests.helpers.seg_fixture import REPO

register_all_modules(init_default_scope=True)

NYUD_CHANNELS = dict(semseg=40, depth=1, normals=3, edge=1)
PASCAL_CHANNELS = dict(semseg=21, human_parts=7, sal=2, normals=3, edge=1)

# Parameters of the whole MultiTaskEncoderDecoder. nyud_hrnet is HRNet18-S (3,860,720) + the
# official head (2,887,498); nyud_swin-t is the official README's 32.07M; nyud_dat-t is DAT-T
# without its classifier (28,319,138 - 770,536) + 4 output norms (2,880) + the Swin-T-width
# head (4,549,561); nyud_mpvit-s is MPViT-S (22,603,400) + a 920-channel head.
PARAMS = {
    'nyud_hrnet': 6_748_218,
    'nyud_swin-t': 32_070_259,
    'nyud_swin-s': 53_388_163,
    'nyud_swin-b': 91_973_597,
    'nyud_mpvit-s': 26_417_356,
    'nyud_dat-t': 32_101_043,
    'nyud_datpp-t': 27_321_313,  # DAT++-T (23,450,772, output norms included) + head
    'nyud_hrformer-s': 11_082_571,
    'pascal_hrnet': 7_369_496,
    'pascal_swin-t': 33_028_902,
    'pascal_swin-s': 54_346_806,
    'pascal_swin-b': 93_069_940,
    'quickstart_synthetic-nyud': 4_764_730,
}
HEAD_IN_CHANNELS = {
    'hrnet': [18, 36, 72, 144],
    'swin-t': [96, 192, 384, 768],
    'swin-s': [96, 192, 384, 768],
    'swin-b': [128, 256, 512, 1024],
    'mpvit-s': [128, 216, 288, 288],
    'dat-t': [96, 192, 384, 768],
    'datpp-t': [64, 128, 256, 512],
    'hrformer-s': [32, 64, 128, 256],
}
NEW_BACKBONES = {
    'nyud_mpvit-s': ('MPViT', 'pretrained/mpvit-s_in1k-224_mmdense.pth', 0.2),
    'nyud_dat-t': ('DAT', 'pretrained/dat-t_in1k-224_mmdense.pth', 0.3),
    'nyud_datpp-t': ('DATPlusPlus', 'pretrained/datpp-t_in1k-224_mmdense.pth', 0.3),
    'nyud_hrformer-s': ('OfficialHRFormer', 'pretrained/hrformer-s_in1k.pth', 0.2),
}
PAPER_CONFIGS = [name for name in PARAMS if not name.startswith('quickstart')]


def _path(name):
    return osp.join(REPO, 'configs', 'demt', f'{name}.py')


def _build(name, init_cfg=None):
    cfg = Config.fromfile(_path(name))
    cfg.model.backbone.init_cfg = init_cfg
    return cfg, revert_sync_batchnorm(MODELS.build(cfg.model))


def test_every_config_is_listed():
    found = {osp.basename(p)[:-3] for p in glob.glob(osp.join(REPO, 'configs', 'demt', '*.py'))}
    assert found == set(PARAMS)


@pytest.mark.parametrize('name', PAPER_CONFIGS)
def test_paper_recipe(name):
    cfg = Config.fromfile(_path(name))
    optim = cfg.optim_wrapper.optimizer
    assert (optim.type, optim.lr, optim.momentum, optim.weight_decay) == ('SGD', 1e-3, 0.9, 5e-4)
    [poly] = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min, poly.end) == ('PolyLR', 0.9, 0, 40000)
    assert cfg.train_cfg.max_iters == 40000
    # 8 GPUs x 1 image
    assert cfg.train_dataloader.batch_size == 1 and cfg.auto_scale_lr.base_batch_size == 8
    nyud = name.startswith('nyud')
    crop = (425, 560) if nyud else (512, 512)
    pipeline = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert tuple(pipeline['MultiTaskRandomCrop'].crop_size) == crop
    # the normalised image is padded (centred, with 0) to the crop by the data preprocessor
    assert 'MultiTaskPad' not in pipeline
    preprocessor = cfg.model.data_preprocessor
    assert tuple(preprocessor.size) == crop and preprocessor.get('size_divisor') is None
    assert (preprocessor.pad_mode, preprocessor.pad_val) == ('center', 0)
    head = cfg.model.decode_head
    assert head.norm_cfg.type == 'SyncBN'
    # (the PASCAL configs' task_channels also keep the base's unused depth entry)
    assert {t: head.task_channels[t] for t in head.tasks} == (
        NYUD_CHANNELS if nyud else PASCAL_CHANNELS)
    assert list(head.tasks) == list(NYUD_CHANNELS if nyud else PASCAL_CHANNELS)
    assert list(head.in_channels) == HEAD_IN_CHANNELS[name.split('_')[1]]
    assert cfg.val_evaluator.tasks == head.tasks
    if cfg.model.backbone.get('norm_cfg') is not None:  # Swin and DAT use LayerNorm only
        assert cfg.model.backbone.norm_cfg.type == 'SyncBN'


@pytest.mark.parametrize('name', sorted(NEW_BACKBONES))
def test_new_backbones_pretrained_paths_and_drop_path(name):
    backbone_type, checkpoint, drop_path = NEW_BACKBONES[name]
    backbone = Config.fromfile(_path(name)).model.backbone
    assert backbone.type == backbone_type
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=checkpoint)
    rate = backbone.extra.drop_path_rate if backbone_type == 'OfficialHRFormer' else \
        backbone.drop_path_rate
    assert rate == drop_path
    if backbone_type == 'OfficialHRFormer':
        assert backbone.extra.stage4.multiscale_output is True
        assert backbone.extra.with_rpe is True


@pytest.mark.parametrize('name', sorted(PARAMS))
def test_build_count_and_tensor_forward(name):
    torch.manual_seed(0)
    cfg, model = _build(name)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    channels = NYUD_CHANNELS if name.startswith(('nyud', 'quickstart')) else PASCAL_CHANNELS
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96), mode='tensor')
    # tensor mode gives the head's logits at stride 4
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        task: (1, c, 16, 24) for task, c in channels.items()}
    assert all(torch.isfinite(v).all() for v in out.values())


@pytest.mark.parametrize('name', sorted(NEW_BACKBONES))
def test_new_backbones_load_converted_weights_through_init_cfg(name, tmp_path):
    """A checkpoint in the converters' output layout (bare backbone keys) loads through the
    config's init_cfg."""
    torch.manual_seed(1)
    _, source = _build(name)
    ckpt = str(tmp_path / 'backbone.pth')
    torch.save({'state_dict': source.backbone.state_dict()}, ckpt)
    torch.manual_seed(2)
    _, model = _build(name, init_cfg=dict(type='Pretrained', checkpoint=ckpt))
    key, ref = next((k, v) for k, v in source.backbone.state_dict().items() if v.dim() > 1)
    assert not torch.equal(model.backbone.state_dict()[key], ref)
    model.init_weights()
    loaded = model.backbone.state_dict()
    for k, v in source.backbone.state_dict().items():
        assert torch.equal(loaded[k], v), k


def _cfg_options(data_root, crop, crop_index):
    loaders = [f'{split}_dataloader' for split in ('train', 'val', 'test')]
    options = [f'{loader}.dataset.data_root={data_root}' for loader in loaders]
    options += [f'{loader}.num_workers=0' for loader in loaders]
    options += [f'{loader}.persistent_workers=False' for loader in loaders]
    options += [
        'model.backbone.init_cfg=None',
        f'train_dataloader.dataset.pipeline.{crop_index}.crop_size={crop}',
        f'model.data_preprocessor.size={crop}',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        'val_evaluator.edge_thresholds=3', 'val_evaluator.edge_num_workers=0',
        'randomness.seed=0',
    ]
    return options


def _val_scalars(work_dir):
    [scalars] = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        records = [json.loads(line) for line in f]
    [val] = [r for r in records if 'semseg/mIoU' in r]
    return val


@pytest.mark.slow
def test_train_pascal_hrnet_end_to_end(tmp_path):
    # num_train=3: the validation image is sample 3, whose PASCAL-Part file has people with
    # parts (samples 1 and 2 carry no human-parts labels).
    data = write_pascal_fixture(tmp_path / 'PASCALContext', num_train=3, num_val=1,
                                size=(64, 80))
    work = str(tmp_path / 'work')
    cfg = _path('pascal_hrnet')
    pipeline = [t['type'] for t in Config.fromfile(cfg).train_dataloader.dataset.pipeline]
    options = _cfg_options(data, '(64,64)', pipeline.index('MultiTaskRandomCrop'))
    proc = run_tool('tools/train.py', cfg, '--work-dir', work, '--cfg-options', *options)
    log = proc.stdout + proc.stderr
    metrics = ('semseg/mIoU', 'human_parts/mIoU', 'sal/maxF', 'normals/mean', 'edge/odsF')
    for key in metrics:
        assert f'{key}: ' in log, (key, log[-3000:])
    val = _val_scalars(work)
    for key in metrics:
        assert val[key] == val[key], f'{key} is NaN'  # every task had labels to score
    assert 0 <= val['semseg/mIoU'] <= 100 and 0 <= val['edge/odsF'] <= 100
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    state = torch.load(osp.join(work, 'iter_2.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    assert {k.split('.')[0] for k in state} == {'backbone', 'decode_head'}
    assert state['decode_head.conv_logits.human_parts.weight'].shape[0] == 7


@pytest.mark.slow
def test_train_nyud_mpvit_end_to_end(tmp_path):
    data = write_nyud_fixture(tmp_path / 'NYUDv2', num_train=2, num_val=1, size=(64, 80))
    work = str(tmp_path / 'work')
    cfg = _path('nyud_mpvit-s')
    pipeline = [t['type'] for t in Config.fromfile(cfg).train_dataloader.dataset.pipeline]
    options = _cfg_options(data, '(64,64)', pipeline.index('MultiTaskRandomCrop'))
    proc = run_tool('tools/train.py', cfg, '--work-dir', work, '--cfg-options', *options)
    log = proc.stdout + proc.stderr
    assert 'MPViT' in log  # the config's backbone, not the HRNet of the base
    for key in ('semseg/mIoU', 'depth/rmse', 'normals/mean', 'edge/odsF'):
        assert f'{key}: ' in log, (key, log[-3000:])
    state = torch.load(osp.join(work, 'iter_2.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    assert state['decode_head.input_proj.weight'].shape[1] == 128 + 216 + 288 + 288
