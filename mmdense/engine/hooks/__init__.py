from .broadcast_buffers_hook import BroadcastBuffersHook, broadcast_buffers
from .multitask_visualization_hook import MultiTaskVisualizationHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .reliability_defaults import DEFAULT_RELIABILITY_HOOKS, install_reliability_hooks
from .safe_checkpoint_hook import (
    SafeCheckpointHook,
    is_complete_checkpoint,
    latest_complete_checkpoint,
)
from .task_consistency_hook import TaskConsistencyHook

__all__ = ['MultiTaskVisualizationHook', 'NonFiniteLossHook', 'NonFiniteLossError',
           'SafeCheckpointHook', 'latest_complete_checkpoint', 'is_complete_checkpoint',
           'BroadcastBuffersHook', 'broadcast_buffers', 'TaskConsistencyHook',
           'install_reliability_hooks', 'DEFAULT_RELIABILITY_HOOKS']
