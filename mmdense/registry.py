"""mmdense registries.

Every registry is a child of mmseg's, so a config in the ``mmdense`` scope reaches mmseg's
modules (``UPerHead``, ``HRNet``, ``RandomFlip``...) unprefixed and, through mmseg's own parents,
mmengine's. MMPose modules are reached by scope: ``type='mmpose.HRFormer'`` or a config with
``default_scope='mmpose'``. mmdense registers no name that another OpenMMLab scope uses for other
semantics (a config without ``_scope_`` would silently get one or the other); a name it used to
register is listed in :data:`RENAMED_MODELS`, and a lookup of it fails naming the new one.
"""
from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import EVALUATOR as MMSEG_EVALUATOR
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import INFERENCERS as MMSEG_INFERENCERS
from mmseg.registry import LOG_PROCESSORS as MMSEG_LOG_PROCESSORS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import RUNNERS as MMSEG_RUNNERS
from mmseg.registry import TASK_UTILS as MMSEG_TASK_UTILS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS

__all__ = [
    'RUNNERS', 'LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR', 'TASK_UTILS',
    'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS', 'INFERENCERS', 'RENAMED_MODELS'
]

#: Model types mmdense registered under another name before: old name -> what to use now. The
#: old names are not registered (``HRFormer`` is MMPose's name for MMPose's semantics), so a
#: saved config that still uses one fails with this pointer instead of building another module.
RENAMED_MODELS = {
    'HRFormer': "'OfficialHRFormer' (mmdense's HRFormer with the official HRT options, "
                "mmdense/models/backbones/hrformer.py); MMPose's own is 'mmpose.HRFormer'",
}


class _ModelRegistry(Registry):
    """The model registry; looking up a name of :data:`RENAMED_MODELS` raises a ``KeyError``
    that names the new type."""

    def get(self, key: str):
        """As :meth:`mmengine.registry.Registry.get`; raises ``KeyError`` for a renamed type
        that no parent registry holds either."""
        obj = super().get(key)
        if obj is None and isinstance(key, str):
            scope, name = self.split_scope_key(key)
            if scope in (None, self.scope) and name in RENAMED_MODELS:
                raise KeyError(f'{name} is not in the {self.scope}::{self.name} registry: '
                               f'it was renamed to {RENAMED_MODELS[name]}')
        return obj


RUNNERS = Registry('runner', parent=MMSEG_RUNNERS, scope='mmdense')
LOOPS = Registry('loop', parent=MMSEG_LOOPS, locations=['mmdense.engine'])
HOOKS = Registry('hook', parent=MMSEG_HOOKS, locations=['mmdense.engine'])

DATASETS = Registry('dataset', parent=MMSEG_DATASETS, locations=['mmdense.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMSEG_DATA_SAMPLERS,
                         locations=['mmdense.datasets'])
TRANSFORMS = Registry('transform', parent=MMSEG_TRANSFORMS,
                      locations=['mmdense.datasets.transforms'])

MODELS = _ModelRegistry('model', parent=MMSEG_MODELS, scope='mmdense',
                        locations=['mmdense.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMSEG_MODEL_WRAPPERS,
                          locations=['mmdense.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer', parent=MMSEG_WEIGHT_INITIALIZERS,
                               locations=['mmdense.models'])

OPTIMIZERS = Registry('optimizer', parent=MMSEG_OPTIMIZERS, locations=['mmdense.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMSEG_OPTIM_WRAPPERS,
                          locations=['mmdense.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor',
                                      parent=MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
                                      locations=['mmdense.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMSEG_PARAM_SCHEDULERS,
                            locations=['mmdense.engine'])

METRICS = Registry('metric', parent=MMSEG_METRICS, locations=['mmdense.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMSEG_EVALUATOR, locations=['mmdense.evaluation'])
TASK_UTILS = Registry('task util', parent=MMSEG_TASK_UTILS, locations=['mmdense.models'])

VISUALIZERS = Registry('visualizer', parent=MMSEG_VISUALIZERS,
                       locations=['mmdense.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMSEG_VISBACKENDS,
                       locations=['mmdense.visualization'])
LOG_PROCESSORS = Registry('log_processor', parent=MMSEG_LOG_PROCESSORS,
                          locations=['mmdense.engine'])
INFERENCERS = Registry('inferencer', parent=MMSEG_INFERENCERS, locations=['mmdense.apis'])
