"""Test-only helpers of the reliability end-to-end tests (imported through ``custom_imports``).

* ``MMDENSE_TEST_SLOW_SAVE=<name>``: writing a file whose name contains ``<name>`` writes half
  of it, creates ``<file>.writing`` and then sleeps, so a test can kill the run mid-write.
* :class:`DumpValBuffersHook` saves each rank's buffers as validation starts.
"""
import os
import os.path as osp
import time

import torch
from mmengine.dist import get_rank
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

_SLOW = os.environ.get('MMDENSE_TEST_SLOW_SAVE')
if _SLOW:
    _put = LocalBackend.put

    def _slow_put(self, obj, filepath):
        if _SLOW not in osp.basename(str(filepath)):
            return _put(self, obj, filepath)
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
            f.flush()
            os.fsync(f.fileno())
        open(str(filepath) + '.writing', 'w').close()
        time.sleep(600)
        raise RuntimeError('the test should have killed this run')

    LocalBackend.put = _slow_put


@HOOKS.register_module()
class DumpValBuffersHook(Hook):
    """Save every rank's buffers to ``work_dir/rank{r}_val{iter}.pth`` before validation.

    Priority ``LOW``: after the reliability hooks (``NORMAL``), i.e. what validation uses.
    """

    priority = 'LOW'

    def before_val_epoch(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        state = {k: v.detach().cpu().clone() for k, v in model.named_buffers()}
        torch.save(state, osp.join(runner.work_dir, f'rank{get_rank()}_val{runner.iter}.pth'))
