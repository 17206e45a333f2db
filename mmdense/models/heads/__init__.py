from .demt import DeMTHead  # noqa: F401
from .kmax import KMaXHead, KMaXPixelDecoder, KMaXTransformerDecoder  # noqa: F401
