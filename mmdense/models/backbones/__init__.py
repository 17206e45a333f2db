from .dat import DAT  # noqa: F401
from .dat_pp import DATPlusPlus  # noqa: F401
from .hrformer import HRFormer  # noqa: F401
from .mpvit import MPViT  # noqa: F401
from .resnet_stem import ResNetWithStem  # noqa: F401
from .timm_convnext import TimmConvNeXt  # noqa: F401
