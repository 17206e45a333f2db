from .neighborhood_attention import (  # noqa: F401
    NeighborhoodAttention2d,
    neighborhood_attention_2d,
    neighborhood_bias,
    window_starts,
)
