from .demt import DeMTHead
from .kmax import KMaXHead, KMaXPixelDecoder, KMaXTransformerDecoder

__all__ = ['DeMTHead', 'KMaXHead', 'KMaXPixelDecoder', 'KMaXTransformerDecoder']
