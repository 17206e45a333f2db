"""Per-image reductions and their aggregation for the dense multi-task metrics."""
from .boundary import (
    boundary_match_counts,
    boundary_metrics,
    boundary_thresholds,
    bwmorph_thin,
    seg2bmap,
    seism_boundary_gt,
)
from .depth import depth_error_sums, depth_metrics
from .multitask import HIGHER_IS_BETTER, delta_m, parse_baselines
from .normals import angular_errors, normals_error_stats, normals_metrics
from .saliency import (
    SAL_IOU_THRESHOLDS,
    saliency_counts,
    saliency_metrics,
    saliency_thresholds,
)
from .segmentation import segmentation_areas, segmentation_metrics

__all__ = [
    'boundary_match_counts', 'boundary_metrics', 'boundary_thresholds', 'bwmorph_thin',
    'seg2bmap', 'seism_boundary_gt', 'SAL_IOU_THRESHOLDS', 'depth_error_sums',
    'depth_metrics', 'HIGHER_IS_BETTER', 'delta_m', 'parse_baselines', 'angular_errors',
    'normals_error_stats', 'normals_metrics', 'saliency_counts', 'saliency_metrics',
    'saliency_thresholds', 'segmentation_areas', 'segmentation_metrics'
]
