"""Checkpoint saving that a crash cannot break, and the matching choice of what to resume."""
from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import re
import zipfile

import torch
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmdense.registry import HOOKS

from .non_finite_loss_hook import NonFiniteLossError

#: Prefix of the file a checkpoint is written to before it is renamed into place.
TMP_PREFIX = '.tmp-'


def _write_text_atomically(path: str, text: str) -> None:
    tmp = osp.join(osp.dirname(path), TMP_PREFIX + osp.basename(path))
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _replace_synced(tmp_path: str, path: str) -> None:
    """Flush ``tmp_path`` to disk, then rename it to ``path`` (atomic on one file system)."""
    with open(tmp_path, 'rb') as f:
        os.fsync(f.fileno())
    os.replace(tmp_path, path)


def non_finite_tensors(model, limit: int = 5) -> list[str]:
    """Names of the (first ``limit``) parameters and buffers of ``model`` holding NaN or inf."""
    module = model.module if is_model_wrapper(model) else model
    bad = []
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad.append(name)
            if len(bad) >= limit:
                break
    return bad


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` made crash-safe; same arguments, same files.

    mmengine deletes the checkpoints beyond ``max_keep_ckpts`` *before* it writes the new
    one, and writes it in place: a kill during the write (with ``max_keep_ckpts=1``) leaves
    only a truncated file, and ``last_checkpoint`` names a deleted one. This hook, on a local
    disk:

    1. refuses to save a model whose parameters or buffers are NaN/inf (raising
       :class:`NonFiniteLossError`, so the run stops instead of replacing good checkpoints with
       a diverged one);
    2. writes ``.tmp-<name>``, flushes it to disk and renames it to ``<name>``
       (``os.replace`` is atomic);
    3. then rewrites ``last_checkpoint`` (also through a renamed temporary file);
    4. only then deletes the checkpoints beyond ``max_keep_ckpts``.

    A crash at any point leaves every complete checkpoint and a ``last_checkpoint`` naming one.
    Other storage backends fall back to mmengine's behaviour (after the NaN check).

    Args:
        check_finite: refuse to save non-finite weights (default True).
        **kwargs: see :class:`mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, *args, check_finite: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.check_finite = check_finite

    def _check_finite(self, runner, step: int) -> None:
        if not self.check_finite:
            return
        bad = non_finite_tensors(runner.model)
        if bad:
            last = runner.message_hub.get_info('last_ckpt')
            raise NonFiniteLossError(
                f'refusing to save the checkpoint of step {step}: the model holds NaN/inf in '
                f'{", ".join(bad)}. Training diverged; the last good checkpoint '
                f'({last or "none"}) is kept.')

    def _save_checkpoint_with_step(self, runner, step, meta):
        self._check_finite(runner, step)
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)

        # Which checkpoints the rotation drops, decided as mmengine does, deleted at the end.
        stale = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        tmp_name = TMP_PREFIX + ckpt_filename
        runner.save_checkpoint(
            self.out_dir,
            tmp_name,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        _replace_synced(osp.join(self.out_dir, tmp_name), self.last_ckpt)
        _write_text_atomically(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in stale:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's ``save_best`` in the same crash-safe order as the regular checkpoints.

        mmengine deletes the previous best file and then writes the new one in place, so a kill
        during that write leaves no best checkpoint at all. Here the new best file is written
        under a temporary name and renamed into place, and only then is the previous one
        deleted. mmengine's selection logic (rules, several indicators, message-hub records) is
        reused as it is, by redirecting its two file operations for the duration of the call
        rather than by copying it.
        """
        if not self.save_best or not isinstance(self.file_backend, LocalBackend):
            return super()._save_best_checkpoint(runner, metrics)
        replaced = []
        save = runner.save_checkpoint

        def save_then_rename(out_dir, filename, *args, **kwargs):
            if filename.startswith(TMP_PREFIX):  # a regular checkpoint, already made atomic
                return save(out_dir, filename, *args, **kwargs)
            save(out_dir, TMP_PREFIX + filename, *args, **kwargs)
            if is_main_process():
                _replace_synced(osp.join(out_dir, TMP_PREFIX + filename),
                                osp.join(out_dir, filename))

        self.file_backend.remove = replaced.append
        runner.save_checkpoint = save_then_rename
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            del self.file_backend.remove, runner.save_checkpoint
        current = {getattr(self, 'best_ckpt_path', None),
                   *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in replaced:
            if path not in current and osp.isfile(path):
                os.remove(path)


_STEP = re.compile(r'(\d+)')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file (its zip directory, at the end, is there).

    A file cut short by a crash during the write has no zip end record and fails here.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            return bool(zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _step_of(path: str) -> int:
    numbers = _STEP.findall(osp.basename(path))
    return int(numbers[-1]) if numbers else -1


def latest_complete_checkpoint(work_dir: str, logger: str | logging.Logger = 'current'
                               ) -> str | None:
    """The checkpoint to resume from: the newest complete one of ``work_dir``.

    ``last_checkpoint`` is tried first, then the ``*.pth`` files of ``work_dir`` from the
    highest step number down. Missing and truncated files are skipped with a warning.

    Returns:
        str | None: the checkpoint path, ``None`` when ``work_dir`` has no complete checkpoint.
    """
    candidates = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named:
            candidates.append(named)
    others = [p for p in glob.glob(osp.join(work_dir, '*.pth'))
              if not osp.basename(p).startswith(TMP_PREFIX)]
    candidates += sorted(others, key=lambda p: (_step_of(p), osp.getmtime(p)), reverse=True)
    seen = set()
    for path in candidates:
        key = osp.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        if not osp.isfile(path):
            print_log(f'last_checkpoint names {path}, which does not exist; looking for another '
                      'checkpoint', logger=logger, level=logging.WARNING)
            continue
        if not is_complete_checkpoint(path):
            print_log(f'skipping {path}: truncated or not a checkpoint (a crash during its '
                      'write?)', logger=logger, level=logging.WARNING)
            continue
        return path
    return None


__all__ = ['SafeCheckpointHook', 'latest_complete_checkpoint', 'is_complete_checkpoint',
           'non_finite_tensors', 'TMP_PREFIX']
