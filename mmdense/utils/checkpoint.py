"""Checkpoint files: safe loading, finding the weights, saving converted weights.

Every checkpoint mmdense reads goes through :func:`load_checkpoint_file`: ``tools/test.py``,
``tools/train.py --resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')`` (mmengine's
local-file loader is routed here by :mod:`mmdense.utils.compat`), :func:`mmdense.apis.init_model`
and the five ``tools/model_converters``.

Trust model: unpickling a file can run any code it names, so by default a checkpoint is read
with ``torch.load(weights_only=True)``, which only rebuilds tensors, containers and plain
values, plus the few harmless globals mmengine's own checkpoints hold (:data:`SAFE_GLOBALS`:
its ``HistoryBuffer`` and numpy arrays, scalars and dtypes). A detectron2 ``.pkl`` (a pickle of
dicts of numpy arrays) is read by an unpickler that rebuilds only numpy arrays. Anything else
is refused with an error that names the file and the objects it wanted to create. Full
unpickling is one explicit opt-in shared by every tool: the ``--unsafe-load`` flag, or
``MMDENSE_UNSAFE_LOAD=1`` in the environment (for scripts: :func:`unsafe_load`); it warns each
time it is used.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import os.path as osp
import pickle
import sys
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from .cli import UserInputError

#: Environment variable that turns on full unpickling (what ``--unsafe-load`` sets).
UNSAFE_LOAD_ENV = 'MMDENSE_UNSAFE_LOAD'
UNSAFE_LOAD_FLAG = '--unsafe-load'
_TRUE = ('1', 'true', 'yes', 'on')


class CheckpointError(UserInputError, ValueError):
    """A checkpoint file that cannot be used: unreadable, without weights, or not fitting."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that would need full unpickling, refused without the explicit opt-in."""


class UnsafeLoadWarning(UserWarning):
    """Emitted each time a file is loaded with full unpickling."""


def unsafe_load_enabled() -> bool:
    """Whether full unpickling was asked for (``--unsafe-load`` / ``MMDENSE_UNSAFE_LOAD=1``)."""
    return os.environ.get(UNSAFE_LOAD_ENV, '').strip().lower() in _TRUE


def enable_unsafe_load() -> None:
    """Turn on full unpickling for this process and the processes it starts.

    The tools call this for ``--unsafe-load``. Setting the environment variable (rather than a
    module flag) lets the workers of a distributed launch and mmengine's loaders see it.
    """
    os.environ[UNSAFE_LOAD_ENV] = '1'


@contextlib.contextmanager
def unsafe_load() -> Iterator[None]:
    """Context manager: full unpickling inside the block only (for trusted files)."""
    old = os.environ.get(UNSAFE_LOAD_ENV)
    os.environ[UNSAFE_LOAD_ENV] = '1'
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(UNSAFE_LOAD_ENV, None)
        else:
            os.environ[UNSAFE_LOAD_ENV] = old


def add_unsafe_load_argument(parser) -> None:
    """Add the shared ``--unsafe-load`` flag to a tool's ``argparse`` parser."""
    parser.add_argument(
        UNSAFE_LOAD_FLAG, action='store_true',
        help='load checkpoints with full unpickling (torch.load(weights_only=False)). '
        'DANGEROUS: unpickling can run arbitrary code from the file; use it only for '
        f'checkpoints from a source you trust. Same as {UNSAFE_LOAD_ENV}=1.')


def _numpy_attr(module: str, name: str) -> Any:
    """A numpy object by the module path of numpy 2 (``_core``) or numpy 1 (``core``)."""
    # numpy 2 first: importing numpy.core there warns that it is deprecated.
    for candidate in (module.replace('numpy.core.', 'numpy._core.'),
                      module.replace('numpy._core.', 'numpy.core.')):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise AttributeError(f'{module}.{name}')


# What numpy pickles reference, under the names numpy 2 and numpy 1 write. Rebuilding an array
# or a scalar only creates numpy objects; the values inside go through the same restricted
# unpickler.
_NUMPY_GLOBALS = (
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.numeric', '_frombuffer'),
    ('numpy.core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
)


_GETATTR_REFUSED = 'getattr is only allowed for the statistics methods of HistoryBuffer'


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as the safe loader allows it: a statistics method of ``HistoryBuffer``.

    mmengine pickles ``HistoryBuffer._statistics_methods`` (``min``, ``max``, ``current``,
    ``mean``) as ``getattr(HistoryBuffer, 'min')``. A general ``getattr`` would let a file reach
    any attribute (``__globals__``...), so this stand-in is registered under its name instead.
    """
    from mmengine.logging import HistoryBuffer

    methods = set(HistoryBuffer._statistics_methods) | {'min', 'max', 'current', 'mean'}
    if obj is not HistoryBuffer or name not in methods:
        raise pickle.UnpicklingError(
            f'getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}): '
            f'{_GETATTR_REFUSED}')
    return getattr(HistoryBuffer, name)


def _safe_globals() -> list:
    from mmengine.logging import HistoryBuffer

    allowed: list = [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')]
    for module, name in _NUMPY_GLOBALS:
        allowed.append((_numpy_attr(module, name), f'{module}.{name}'))
    # numpy 2 pickles some dtypes by their class (numpy.dtypes.Float32DType...).
    for dtype_cls in {type(np.dtype(c)) for c in '?bBhHiIlLqQefdgFDGSUVOMm'}:
        allowed.append((dtype_cls, f'numpy.dtypes.{dtype_cls.__name__}'))
    return allowed


#: Globals allowed beside torch's own weights-only set (computed on first use).
SAFE_GLOBALS: list = []


def safe_globals() -> list:
    """The extra globals the safe loader accepts: mmengine's ``HistoryBuffer`` and numpy's
    array/scalar/dtype reconstruction (all that an mmengine Runner checkpoint holds)."""
    if not SAFE_GLOBALS:
        SAFE_GLOBALS.extend(_safe_globals())
    return SAFE_GLOBALS


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickler of detectron2 ``.pkl`` files: dicts, lists and numpy arrays, nothing else."""

    def __init__(self, file, source: str):
        super().__init__(file, encoding='latin1')
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return _numpy_attr(module, name)
        if (module, name) in (('collections', 'OrderedDict'), ('_codecs', 'encode')):
            return super().find_class(module, name)
        raise UnsafeCheckpointError(_refusal(self.source, [f'{module}.{name}']))


def _refusal(path: str, names: list[str]) -> str:
    shown = ', '.join(names[:5]) + (', ...' if len(names) > 5 else '')
    return (f'{path}: refusing to unpickle {shown}: loading this checkpoint would run code '
            f'from the file. If you trust its source, rerun with {UNSAFE_LOAD_FLAG} '
            f'(or {UNSAFE_LOAD_ENV}=1).')


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines:  # torch's weights-only message hides the cause on a later line
        if line.startswith('WeightsUnpickler error:'):
            return line[len('WeightsUnpickler error:'):].strip()
    line = lines[0] if lines else ''
    return f'{type(err).__name__}: {line}' if line else type(err).__name__


def _warn_unsafe(path: str) -> None:
    warnings.warn(
        f'{path}: loading with full unpickling ({UNSAFE_LOAD_FLAG} / {UNSAFE_LOAD_ENV}=1). '
        'Unpickling can run arbitrary code from the file: do this only for checkpoints from a '
        'source you trust.', UnsafeLoadWarning, stacklevel=3)


def _check_file(path: str) -> str:
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file.')
    return path


def _load_pickle(path: str, unsafe: bool) -> Any:
    with open(path, 'rb') as f:
        try:
            if unsafe:
                _warn_unsafe(path)
                return pickle.load(f, encoding='latin1')
            return _NumpyUnpickler(f, path).load()
        except CheckpointError:
            raise
        except Exception as err:  # truncated or not a pickle: EOFError, UnpicklingError...
            raise CheckpointError(f'{path}: not a readable .pkl checkpoint '
                                  f'({_one_line(err)}).') from err


def load_checkpoint_file(path: str, map_location: Any = 'cpu', unsafe: bool | None = None):
    """Load a checkpoint file safely, with one-line errors that name the file.

    Args:
        path: a ``.pth``/``.ckpt`` file of ``torch.save``, or a detectron2 ``.pkl``.
        map_location: as ``torch.load``'s.
        unsafe: full unpickling; None (default) follows ``--unsafe-load`` /
            ``MMDENSE_UNSAFE_LOAD``.

    Returns:
        What the file holds.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: the file pickles objects other than the safe ones.
        CheckpointError: the file is truncated, corrupt or not a checkpoint.
    """
    path = _check_file(path)
    unsafe = unsafe_load_enabled() if unsafe is None else unsafe
    if path.endswith('.pkl'):
        return _load_pickle(path, unsafe)
    try:
        if unsafe:
            _warn_unsafe(path)
            return torch.load(path, map_location=map_location, weights_only=False)
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        unsafe_names = _unsafe_globals(path)
        if unsafe_names:
            raise UnsafeCheckpointError(_refusal(path, unsafe_names)) from None
        if any(hint in str(err) for hint in ('Unsupported global', 'unrecognized function',
                                              _GETATTR_REFUSED)):
            # A legacy (non-zip) file, whose globals torch cannot list beforehand.
            raise UnsafeCheckpointError(
                f'{path}: {_one_line(err)}; loading it would run code from the file. If you '
                f'trust its source, rerun with {UNSAFE_LOAD_FLAG} '
                f'(or {UNSAFE_LOAD_ENV}=1).') from None
        raise CheckpointError(f'{path}: not a readable checkpoint ({_one_line(err)}).') from None
    except (MemoryError, KeyboardInterrupt):
        raise
    except ModuleNotFoundError as err:  # only with full unpickling: a class of a missing module
        raise CheckpointError(f'{path}: the checkpoint pickles objects of a missing module '
                              f'({err.name}); install it, or re-save only the weights.') from None
    except Exception as err:  # truncated zip, garbage bytes (KeyError, EOFError, RuntimeError)
        raise CheckpointError(f'{path}: not a readable checkpoint, corrupt or truncated '
                              f'({_one_line(err)}).') from None


def load_url_checkpoint(url: str, model_dir: str | None = None, map_location: Any = None,
                        progress: bool = True, check_hash: bool = False,
                        file_name: str | None = None):
    """Download a checkpoint into torch's hub cache (once) and load it safely.

    Same cache and arguments as ``torch.hub.load_state_dict_from_url`` (which mmengine's
    ``http(s)://``, ``open-mmlab://`` and ``torchvision://`` checkpoints go through), but
    loaded by :func:`load_checkpoint_file` instead of torch.hub's ``weights_only=False``.
    """
    from urllib.parse import urlparse

    from torch.hub import HASH_REGEX, download_url_to_file, get_dir

    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name or osp.basename(urlparse(url).path)
    cached = osp.join(model_dir, filename)
    if not osp.exists(cached):
        sys.stderr.write(f'Downloading: "{url}" to {cached}\n')
        match = HASH_REGEX.search(filename) if check_hash else None
        download_url_to_file(url, cached, match.group(1) if match else None, progress=progress)
    return load_checkpoint_file(cached, map_location=map_location)


def _unsafe_globals(path: str) -> list[str]:
    """Globals of a zip checkpoint that the safe loader does not accept ([] if unknown)."""
    if not zipfile.is_zipfile(path):
        return []
    try:
        with torch.serialization.safe_globals(safe_globals()):
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001  (a corrupt archive: reported as such by the caller)
        return []
    allowed = {name for _, name in
               (g if isinstance(g, tuple) else (g, f'{g.__module__}.{g.__qualname__}')
                for g in safe_globals())}
    return [n for n in names if n not in allowed]


def find_state_dict(checkpoint: Any, source: str = 'checkpoint',
                    keys: tuple[str, ...] = ('state_dict', 'model'),
                    strip_prefix: str | None = 'module.') -> OrderedDict:
    """The weights of a loaded checkpoint, as an ordered dict of tensors.

    Handles mmengine/mmcv (``state_dict``), PyTorch Lightning (``state_dict`` beside
    ``epoch``, ``optimizer_states``...), DeiT/detectron2/official releases (``model``) and bare
    state dicts. numpy arrays (detectron2 ``.pkl``) become tensors.

    Args:
        checkpoint: what :func:`load_checkpoint_file` returned.
        source: name used in errors (the file path).
        keys: entries that may hold the weights, tried in this order.
        strip_prefix: prefix removed from every key (``module.`` of DistributedDataParallel);
            None keeps the keys.

    Returns:
        OrderedDict[str, Tensor]: the weights.

    Raises:
        CheckpointError: no dict, or no non-empty dict of tensors.
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'{source}: expected a dict of weights, got '
                              f'{type(checkpoint).__name__}.')
    for key in keys:
        if isinstance(checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
            break
    weights, others = OrderedDict(), []
    for key, value in checkpoint.items():
        if isinstance(value, (np.ndarray, np.generic)):
            value = torch.from_numpy(np.asarray(value))
        if not isinstance(value, torch.Tensor):
            others.append(str(key))
            continue
        if strip_prefix and isinstance(key, str) and key.startswith(strip_prefix):
            key = key[len(strip_prefix):]
        weights[key] = value
    if not weights or others:
        where = ', '.join(f'"{k}"' for k in keys)
        found = f'; non-tensor entries: {others[:5]}' if others else ''
        raise CheckpointError(f'{source}: no weights found (expected a state dict of tensors, '
                              f'bare or under {where}{found}).')
    return weights


def converted_meta(src: str, converter: str, **extra) -> dict:
    """The ``meta`` of a converted checkpoint: its source file, the converter and extras."""
    meta = dict(source=osp.basename(src), converter=converter)
    meta.update(extra)
    return meta


def save_converted_checkpoint(state_dict: Mapping, dst: str, src: str, converter: str,
                              **meta) -> None:
    """Save converted weights as ``{'state_dict', 'meta'}`` (loads with the safe loader).

    Args:
        state_dict: the converted weights.
        dst: output path; its folder is created.
        src: the source checkpoint (its file name goes in ``meta['source']``).
        converter: the tool that converted it (``meta['converter']``).
        **meta: more facts for ``meta`` (plain values: numbers, strings, lists).
    """
    if osp.dirname(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
    torch.save(dict(state_dict=OrderedDict(state_dict),
                    meta=converted_meta(src, converter, **meta)), dst)


def conversion_failed(tool: str, err: BaseException) -> int:
    """Print a converter's error on one line (``TOOL: error: ...``); returns the exit code 1."""
    print(f'{tool}: error: {err}', file=sys.stderr)
    return 1


def summarize_conversion(converted: Mapping, dst: str) -> str:
    """``Saved N tensors (V values) to DST``, as every converter reports."""
    num = sum(v.numel() for k, v in converted.items() if not k.endswith('num_batches_tracked'))
    return f'Saved {len(converted)} tensors ({num:,} values) to {dst}'


def state_dict_mismatch(model: torch.nn.Module, state_dict: Mapping) -> dict[str, list]:
    """What of ``state_dict`` does not fit ``model``.

    ``num_batches_tracked`` buffers missing from old checkpoints are not counted (as mmengine).

    Returns:
        dict: ``missing`` (model keys absent from the checkpoint), ``unexpected`` (checkpoint
        keys the model lacks) and ``shape`` (``(key, checkpoint shape, model shape)``).
    """
    target = model.state_dict()
    missing = [k for k in target if k not in state_dict and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state_dict if k not in target]
    shape = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in state_dict.items()
             if k in target and hasattr(v, 'shape') and tuple(v.shape) != tuple(target[k].shape)]
    return dict(missing=missing, unexpected=unexpected, shape=shape)


def format_mismatch(mismatch: Mapping[str, list], limit: int = 8) -> str:
    """One line listing a :func:`state_dict_mismatch` (the first ``limit`` of each kind)."""

    def shown(items):
        return ', '.join(items[:limit]) + (', ...' if len(items) > limit else '')

    parts = []
    if mismatch['missing']:
        parts.append(f'{len(mismatch["missing"])} missing keys ({shown(mismatch["missing"])})')
    if mismatch['unexpected']:
        parts.append(f'{len(mismatch["unexpected"])} unexpected keys '
                     f'({shown(mismatch["unexpected"])})')
    if mismatch['shape']:
        items = [f'{k}: checkpoint {list(a)} vs model {list(b)}' for k, a, b in mismatch['shape']]
        parts.append(f'{len(items)} shape mismatches ({shown(items)})')
    return '; '.join(parts)


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: Any, source: str,
                          strict: bool = True,
                          revise_keys: tuple | list = ((r'^module\.', ''), )) -> dict:
    """Compare a loaded checkpoint with a model before loading it, as mmengine would load it.

    The weights are ``checkpoint['state_dict']`` or the checkpoint itself, with ``revise_keys``
    applied; wrappers (DDP, test-time augmentation) are looked through.

    Args:
        model: the model the checkpoint is for.
        checkpoint: what :func:`load_checkpoint_file` returned.
        source: the file, named in errors and warnings.
        strict: raise on any mismatch; otherwise warn with the list.
        revise_keys: ``(pattern, replacement)`` applied to the keys, as mmengine's.

    Returns:
        dict: the :func:`state_dict_mismatch` found (empty lists when it fits).

    Raises:
        CheckpointError: with ``strict``, listing missing/unexpected keys and shape mismatches.
    """
    import re

    from mmengine.model import BaseTTAModel, is_model_wrapper

    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'{source}: expected a dict of weights, got '
                              f'{type(checkpoint).__name__}.')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(f'{source}: "state_dict" is a {type(state_dict).__name__}, '
                              'not a dict of weights.')
    revised = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    mismatch = state_dict_mismatch(model, revised)
    if any(mismatch.values()):
        listing = format_mismatch(mismatch)
        if strict:
            raise CheckpointError(
                f'{source} does not fit the model: {listing}. Pass --allow-partial to load '
                'only what fits, on purpose.')
        warnings.warn(f'{source}: partial load (--allow-partial): {listing}; these weights '
                      'keep their initial values.', stacklevel=2)
    return mismatch


__all__ = ['CheckpointError', 'UnsafeCheckpointError', 'UnsafeLoadWarning', 'UNSAFE_LOAD_ENV',
           'UNSAFE_LOAD_FLAG', 'add_unsafe_load_argument', 'enable_unsafe_load',
           'unsafe_load', 'unsafe_load_enabled', 'safe_globals', 'load_checkpoint_file',
           'load_url_checkpoint',
           'find_state_dict', 'converted_meta', 'save_converted_checkpoint', 'conversion_failed',
           'summarize_conversion',
           'state_dict_mismatch', 'format_mismatch', 'check_checkpoint_fits']
