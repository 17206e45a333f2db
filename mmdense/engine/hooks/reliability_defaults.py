"""The hooks every training run gets, whatever its config says."""
from __future__ import annotations

from collections.abc import Mapping

from mmengine.hooks import CheckpointHook

from .broadcast_buffers_hook import BroadcastBuffersHook
from .non_finite_loss_hook import NonFiniteLossHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .task_consistency_hook import TaskConsistencyHook

#: Hooks added to a run that lacks them (configs may replace ``custom_hooks`` as a whole).
DEFAULT_RELIABILITY_HOOKS = (NonFiniteLossHook, BroadcastBuffersHook, TaskConsistencyHook)


def install_reliability_hooks(runner) -> list[str]:
    """Give a built runner the reliability hooks its config lacks.

    * :class:`NonFiniteLossHook`, :class:`BroadcastBuffersHook` and
      :class:`TaskConsistencyHook`, unless already registered;
    * mmengine's plain ``CheckpointHook`` is replaced by :class:`SafeCheckpointHook` with the
      same arguments (from ``default_hooks.checkpoint``).

    Done on the built runner, not in the config, so that it works in every default scope
    (``mmdense`` and ``mmpose``) and whatever ``custom_hooks`` a config sets.

    Returns:
        list[str]: names of the hooks added or replaced.
    """
    changed = []
    for cls in DEFAULT_RELIABILITY_HOOKS:
        if not any(isinstance(hook, cls) for hook in runner.hooks):
            runner.register_hook(cls())
            changed.append(cls.__name__)
    ckpt_cfg = (runner.cfg.get('default_hooks') or {}).get('checkpoint')
    for i, hook in enumerate(runner._hooks):
        if type(hook) is CheckpointHook and isinstance(ckpt_cfg, Mapping):
            args = {k: v for k, v in ckpt_cfg.items() if k != 'type'}
            safe = SafeCheckpointHook(**args)
            safe.priority = hook.priority
            runner._hooks[i] = safe
            changed.append('SafeCheckpointHook')
    return changed
