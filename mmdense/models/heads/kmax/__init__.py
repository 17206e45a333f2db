"""kMaX-DeepLab decoder modules."""
from .kmax_head import KMaXHead
from .pixel_decoder import KMaXPixelDecoder
from .postprocess import kmax_panoptic_inference, kmax_semantic_inference
from .transformer_decoder import KMaXTransformerDecoder

__all__ = [
    'KMaXHead', 'KMaXPixelDecoder', 'KMaXTransformerDecoder',
    'kmax_panoptic_inference', 'kmax_semantic_inference'
]
