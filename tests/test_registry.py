"""Registry resolution across the mmdense, mmseg and mmpose scopes."""
import pytest
from mmengine.registry import DefaultScope

import mmdense  # noqa: F401
from mmdense.registry import DATASETS, METRICS, MODELS, TRANSFORMS, VISUALIZERS
from mmdense.utils import register_all_modules


@pytest.fixture(autouse=True, scope='module')
def _scope():
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdense'):
        yield


def test_registries_are_children_of_mmseg():
    import mmseg.registry as mmseg_reg
    assert MODELS.parent is mmseg_reg.MODELS
    assert DATASETS.parent is mmseg_reg.DATASETS
    assert TRANSFORMS.parent is mmseg_reg.TRANSFORMS
    assert MODELS.scope == 'mmdense'


def test_mmseg_modules_reached_unprefixed():
    head = MODELS.build(dict(type='FCNHead', in_channels=8, channels=4, num_classes=3,
                             num_convs=1))
    assert type(head).__module__.startswith('mmseg.')
    for name in ('UPerHead', 'OCRHead', 'HRNet', 'SwinTransformer', 'ResNet', 'EncoderDecoder'):
        assert MODELS.get(name) is not None, name
    assert TRANSFORMS.get('RandomFlip').__module__.startswith('mmseg.')
    assert DATASETS.get('ADE20KDataset').__module__.startswith('mmseg.')
    assert METRICS.get('IoUMetric').__module__.startswith('mmseg.')
    assert VISUALIZERS.get('SegLocalVisualizer') is not None


def test_mmpose_modules_reached_by_scope():
    cls = MODELS.get('mmpose.HRFormer')
    assert cls is not None and cls.__module__.startswith('mmpose.')
    # _scope_ makes the modules the head builds inside (its loss) come from mmpose too.
    head = MODELS.build(dict(type='mmpose.HeatmapHead', _scope_='mmpose', in_channels=8,
                             out_channels=17, deconv_out_channels=None))
    assert type(head).__module__.startswith('mmpose.')
    assert type(head.loss_module).__module__.startswith('mmpose.')


def test_unknown_type_names_the_registry():
    with pytest.raises(KeyError, match='NoSuchHead'):
        MODELS.build(dict(type='NoSuchHead'))


def test_mmpose_scope_config_builds_mmpose_modules():
    with DefaultScope.overwrite_default_scope('mmpose'):
        from mmengine.registry import MODELS as ROOT
        head = ROOT.build(dict(type='HeatmapHead', in_channels=8, out_channels=17,
                               deconv_out_channels=None))
    assert type(head).__module__.startswith('mmpose.')


def test_hrformer_name_is_mmposes_alone():
    """mmdense's HRFormer is ``OfficialHRFormer``: the bare ``HRFormer`` of an mmdense-scope
    config fails naming it, and an mmpose-scope config gets MMPose's ``HRFormer`` or, for
    ``OfficialHRFormer`` without ``_scope_='mmdense'``, an error (never the other module)."""
    from mmengine.config import Config
    from mmengine.registry import MODELS as ROOT

    from mmdense.models.backbones.hrformer import OfficialHRFormer
    from mmdense.utils.cli import explain_registry_error

    assert 'HRFormer' not in MODELS.module_dict
    assert MODELS.get('OfficialHRFormer') is OfficialHRFormer
    assert MODELS.get('mmpose.HRFormer').__module__.startswith('mmpose.')
    cfg = dict(type='HRFormer', extra=dict())
    with pytest.raises(KeyError, match="renamed to 'OfficialHRFormer'") as info:
        MODELS.build(cfg)
    message = explain_registry_error(Config(dict(model=dict(backbone=cfg))), info.value)
    assert "at model.backbone.type" in message and "renamed to 'OfficialHRFormer'" in message
    with DefaultScope.overwrite_default_scope('mmpose'):
        with ROOT.switch_scope_and_registry('mmpose') as pose_models:
            assert pose_models.get('HRFormer').__module__.startswith('mmpose.')
        with pytest.raises(KeyError, match='OfficialHRFormer is not in the mmpose::model'):
            ROOT.build(dict(type='OfficialHRFormer', extra=dict()))


def test_no_mmdense_model_name_shadows_mmseg_or_mmpose():
    """A type name resolves to one module whatever the config's scope."""
    import mmpose.registry
    import mmseg.registry

    MODELS.import_from_location()
    for other in (mmseg.registry.MODELS, mmpose.registry.MODELS):
        other.import_from_location()
        shared = set(MODELS.module_dict) & set(other.module_dict)
        assert not shared, f'mmdense registers {sorted(shared)}, also in {other.scope}'
