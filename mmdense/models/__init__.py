from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones_all
from .data_preprocessors import *  # noqa: F401,F403
from .data_preprocessors import __all__ as _data_preprocessors_all
from .heads import *  # noqa: F401,F403
from .heads import __all__ as _heads_all
from .loss_balancers import *  # noqa: F401,F403
from .loss_balancers import __all__ as _loss_balancers_all
from .losses import *  # noqa: F401,F403
from .losses import __all__ as _losses_all
from .segmentors import *  # noqa: F401,F403
from .segmentors import __all__ as _segmentors_all

__all__ = [
    *_backbones_all, *_data_preprocessors_all, *_heads_all, *_loss_balancers_all, *_losses_all,
    *_segmentors_all
]
