from .dat import DAT
from .dat_pp import DATPlusPlus
from .hrformer import OfficialHRFormer
from .mpvit import MPViT
from .resnet_stem import ResNetWithStem
from .timm_convnext import TimmConvNeXt

__all__ = ['DAT', 'DATPlusPlus', 'MPViT', 'OfficialHRFormer', 'ResNetWithStem', 'TimmConvNeXt']
