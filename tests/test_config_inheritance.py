"""The README's config-inheritance example and ``--cfg-options model.decode_head.*`` overrides
of a DeMT config: mmseg's names (``decode_head``) reach the multi-task segmentor."""
import importlib.util
import os.path as osp
import re
import shutil
import sys

import pytest
from mmengine.config import Config

from mmdense.registry import MODELS
from mmdense.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
EXAMPLE = '# configs/demt/my_nyud_hrnet_60k.py'


def readme_example() -> str:
    """The README's inheritance example, verbatim."""
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)
    found = [b for b in blocks if b.startswith(EXAMPLE)]
    assert len(found) == 1, f'README.md has {len(found)} blocks starting with {EXAMPLE!r}'
    return found[0]


def build(cfg):
    register_all_modules()
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    model_cfg['backbone']['init_cfg'] = None  # no download
    return MODELS.build(model_cfg)


@pytest.fixture(scope='module')
def base_model():
    return build(Config.fromfile(osp.join(ROOT, 'configs', 'demt', 'nyud_hrnet.py')))


def test_readme_inheritance_example(tmp_path, base_model):
    shutil.copytree(osp.join(ROOT, 'configs'), tmp_path / 'configs')
    path = tmp_path / 'configs' / 'demt' / 'my_nyud_hrnet_60k.py'
    path.write_text(readme_example())
    cfg = Config.fromfile(str(path))
    assert cfg.train_cfg.max_iters == 60000 and cfg.param_scheduler[0].end == 60000
    model = build(cfg)
    # decode_head: the override is merged into the base's DeMT head (the rest is kept).
    assert cfg.model.decode_head.type == 'DeMTHead' and cfg.model.decode_head.channels == 256
    assert all(len(m.layers) == 2 for m in model.decode_head.mixers.values())
    assert all(len(m.layers) == 1 for m in base_model.decode_head.mixers.values())
    # losses: the edge weight changes, its pos_weight (nyud_hrnet.py) and the others stay.
    assert model.losses['edge'].loss_weight == 20.0
    assert base_model.losses['edge'].loss_weight == 50.0
    assert model.losses['edge'].pos_weight == base_model.losses['edge'].pos_weight == 0.8
    for task in ('semseg', 'depth', 'normals'):
        assert model.losses[task].loss_weight == base_model.losses[task].loss_weight
    # Only the head grew: one more mixer layer per task.
    extra = sum(p.numel() for p in model.decode_head.mixers.parameters()) / 2
    count = [sum(p.numel() for p in m.parameters()) for m in (model, base_model)]
    assert count[0] - count[1] == extra


def test_cfg_options_reach_the_decode_head(monkeypatch, base_model):
    """tools/train.py's own parsing and merging of ``--cfg-options``."""
    from mmdense.utils.cli import UserInputError, load_config
    spec = importlib.util.spec_from_file_location('mmdense_train_tool',
                                                  osp.join(ROOT, 'tools', 'train.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    config = osp.join(ROOT, 'configs', 'demt', 'nyud_hrnet.py')
    monkeypatch.setattr(sys, 'argv', ['train.py', config, '--cfg-options',
                                      'model.decode_head.channels=128',
                                      'model.losses.depth.loss_weight=2.0'])
    args = tool.parse_args()
    cfg = load_config(args.config, args.cfg_options)
    assert cfg.model.decode_head.channels == 128
    model = build(cfg)
    assert model.decode_head.channels == 128 and model.decode_head.input_proj.out_features == 128
    assert model.losses['depth'].loss_weight == 2.0
    assert base_model.decode_head.channels == 256
    # The old name is not in the config: a clear error, not a silently ignored key.
    with pytest.raises(UserInputError, match="'head' is not in model"):
        load_config(config, {'model.head.channels': 128})
