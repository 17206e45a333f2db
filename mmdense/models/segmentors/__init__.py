from .kmax_deeplab import KMaXDeepLab
from .multitask_encoder_decoder import MultiTaskEncoderDecoder

__all__ = ['KMaXDeepLab', 'MultiTaskEncoderDecoder']
