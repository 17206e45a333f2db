"""kMaX-DeepLab decoder modules."""
from .kmax_head import KMaXHead
from .pixel_decoder import KMaXPixelDecoder
from .postprocess import INSTANCE_OFFSET, kmax_panoptic_inference, kmax_semantic_inference
from .transformer_decoder import KMaXTransformerDecoder

__all__ = [
    'KMaXHead', 'KMaXPixelDecoder', 'KMaXTransformerDecoder', 'INSTANCE_OFFSET',
    'kmax_panoptic_inference', 'kmax_semantic_inference'
]
