from .kmax_deeplab import KMaXDeepLab  # noqa: F401
from .multitask_encoder_decoder import MultiTaskEncoderDecoder  # noqa: F401
