"""Helpers shared by the command-line tools: config loading and input checks with clear errors.

The tools turn the user errors they can foresee (missing config, unknown ``--cfg-options`` key,
missing data root) into one-line messages instead of tracebacks from deep inside mmengine.
"""
from __future__ import annotations

import difflib
import os
import os.path as osp
import re
from collections.abc import Mapping
from typing import Any

from mmengine.config import Config, ConfigDict, DictAction

# Top-level keys the Runner reads that configs often leave out; --cfg-options may add them.
RUNNER_KEYS = frozenset({
    'randomness', 'auto_scale_lr', 'custom_hooks', 'find_unused_parameters', 'sync_bn',
    'compile', 'experiment_name', 'model_wrapper_cfg', 'resume', 'load_from', 'work_dir',
    'launcher', 'log_level', 'default_scope', 'env_cfg', 'visualizer', 'log_processor',
    'default_hooks', 'train_cfg', 'val_cfg', 'test_cfg', 'val_evaluator', 'test_evaluator',
    'optim_wrapper', 'param_scheduler', 'tta_model', 'tta_pipeline', 'strategy',
})
# Top-level plain option dicts whose entries may be added one by one (randomness.seed=0).
OPTION_DICT_KEYS = frozenset({'randomness', 'env_cfg', 'auto_scale_lr'})


class UserInputError(Exception):
    """An error in what the user gave (paths, config keys); the tools print it on one line."""


def load_config(path: str, cfg_options: dict | None = None) -> Config:
    """Load a config file and apply ``--cfg-options`` after checking every key exists.

    Args:
        path: config file path.
        cfg_options: ``{dotted.key: value}`` from :class:`mmengine.config.DictAction`.

    Returns:
        Config: the merged config.

    Raises:
        UserInputError: the file does not exist or is not a config, or an option names a key
            that is not in the config or gives a value of the wrong type.
    """
    if not osp.isfile(path):
        hint = ''
        parent = osp.dirname(path) or '.'
        if osp.isdir(parent):
            close = difflib.get_close_matches(osp.basename(path), os.listdir(parent), n=3)
            if close:
                hint = f' Did you mean: {", ".join(osp.join(parent, c) for c in close)}?'
        raise UserInputError(f"config file '{path}' does not exist.{hint}")
    try:
        cfg = Config.fromfile(path)
    except Exception as e:  # syntax errors, missing _base_ files
        raise UserInputError(f"cannot load config '{path}': {type(e).__name__}: {e}") from e
    if cfg_options:
        for key, value in cfg_options.items():
            check_cfg_key(cfg, key)
            check_cfg_value(cfg, key, value)
        cfg.merge_from_dict(cfg_options)
    return cfg


def _children(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        return [str(k) for k in node.keys()]
    if isinstance(node, (list, tuple)):
        return [str(i) for i in range(len(node))]
    return []


def check_cfg_key(cfg: Config, dotted_key: str) -> None:
    """Raise :class:`UserInputError` unless ``dotted_key`` names an existing config entry.

    New keys are accepted only at the top level for the settings the Runner reads
    (``randomness``, ``custom_hooks``...), since configs often omit those.
    """
    parts = dotted_key.split('.')
    node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for depth, part in enumerate(parts):
        children = _children(node)
        if part in children:
            node = node[int(part)] if isinstance(node, (list, tuple)) else node[part]
            continue
        if depth == 0 and part in RUNNER_KEYS:
            return
        if depth > 0 and isinstance(node, (dict, ConfigDict)) and node.get('type') is None \
                and depth == 1 and len(parts) == 2 and parts[0] in OPTION_DICT_KEYS:
            # e.g. randomness.seed, env_cfg.cudnn_benchmark: plain option dicts of the Runner.
            return
        where = '.'.join(parts[:depth]) or '<top level>'
        close = difflib.get_close_matches(part, children, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ''
        raise UserInputError(
            f"--cfg-options key '{dotted_key}': '{part}' is not in {where} of the config.{hint}"
            ' Keys that do not exist cannot be set from the command line; add them in a'
            ' config that inherits this one.')


def dataloader_data_roots(cfg: Config, names: list[str]) -> list[tuple[str, str]]:
    """Return ``(dataloader name, data_root)`` for the named dataloaders of ``cfg``.

    Dataset wrappers (``dataset=dict(type='RepeatDataset', dataset=...)``, ``datasets=[...]``)
    are followed.
    """
    found = []

    def visit(name: str, ds: Any) -> None:
        if not isinstance(ds, Mapping):
            return
        if ds.get('data_root'):
            found.append((name, ds['data_root']))
        if 'dataset' in ds:
            visit(name, ds['dataset'])
        for sub in ds.get('datasets', []) or []:
            visit(name, sub)

    for name in names:
        loader = cfg.get(name)
        if isinstance(loader, Mapping):
            visit(name, loader.get('dataset'))
    return found


def check_data_roots(cfg: Config, names: list[str]) -> None:
    """Raise :class:`UserInputError` if a dataloader's ``data_root`` does not exist."""
    for name, root in dataloader_data_roots(cfg, names):
        if not osp.isdir(root):
            raise UserInputError(
                f"data root '{root}' of {name} does not exist. Prepare the dataset as "
                f"data/README.md describes, or point to it with --cfg-options "
                f"{name}.dataset.data_root=PATH.")




# ---------------------------------------------------------------------------------------------
# Checks of values and of the environment (one-line errors naming what is wrong)
# ---------------------------------------------------------------------------------------------
_MISSING = object()


def cfg_value(cfg: Config | Mapping, dotted_key: str) -> Any:
    """The value at ``dotted_key`` of ``cfg`` (list indices allowed), or a sentinel if absent."""
    node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for part in dotted_key.split('.'):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return 'a boolean (True/False)'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, Mapping):
        return 'a dict'
    return type(value).__name__


def check_cfg_value(cfg: Config | Mapping, dotted_key: str, value: Any) -> None:
    """Raise :class:`UserInputError` if ``value`` cannot replace the config's value at the key.

    ``--cfg-options`` parses ``train_cfg.max_iters=abc`` into the string ``'abc'``, which
    otherwise fails deep inside a loop with no mention of the option. Checked: a number must
    stay a number, a boolean a boolean, a dict a dict (``None`` is always accepted, strings and
    lists may change type).
    """
    old = cfg_value(cfg, dotted_key)
    if old is _MISSING or old is None or value is None:
        return
    if isinstance(old, bool):
        ok = isinstance(value, bool)
    elif isinstance(old, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(old, Mapping):
        ok = isinstance(value, Mapping)
    else:
        return
    if not ok:
        raise UserInputError(
            f'--cfg-options {dotted_key}={value!r}: {dotted_key} must be {_kind(old)} (the '
            f'config has {old!r}), got {_kind(value)}.')


def check_work_dir(work_dir: str) -> None:
    """Create ``work_dir`` and check a file can be written in it.

    Raises:
        UserInputError: naming the work dir and the reason.
    """
    import tempfile

    try:
        os.makedirs(work_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=work_dir):
            pass
    except OSError as e:
        reason = e.strerror or str(e)
        raise UserInputError(f"work dir '{work_dir}' is not writable ({reason}); choose "
                             'another with --work-dir DIR.') from e


def fix_persistent_workers(cfg: Config) -> list[str]:
    """Turn off ``persistent_workers`` of the dataloaders that have ``num_workers=0``.

    PyTorch refuses the combination (``persistent_workers option needs num_workers > 0``),
    while it only means "keep the workers alive", which has no meaning without workers.

    Returns:
        list[str]: the dataloaders changed.
    """
    changed = []
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if isinstance(loader, Mapping) and loader.get('persistent_workers') and \
                loader.get('num_workers', 0) == 0:
            loader['persistent_workers'] = False
            changed.append(name)
    return changed


def _find_type(node: Any, type_name: str, prefix: str = '') -> list[str]:
    """Config keys of the dicts whose ``type`` is ``type_name``."""
    found = []
    if isinstance(node, Mapping):
        if node.get('type') == type_name:
            found.append(f'{prefix}type' if prefix else 'type')
        for key, value in node.items():
            found += _find_type(value, type_name, f'{prefix}{key}.')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += _find_type(value, type_name, f'{prefix}{i}.')
    return found


def _registry_named(scope: str | None, name: str):
    """The registry ``scope::name`` among the loaded mmengine registry trees."""
    import mmengine.registry as root_module
    from mmengine.registry import Registry

    roots = [v for v in vars(root_module).values() if isinstance(v, Registry)]
    stack = list(roots)
    while stack:
        reg = stack.pop()
        if reg.name == name and (scope is None or reg.scope == scope):
            return reg
        stack.extend(reg._children.values())
    return None


_REGISTRY_MISS = re.compile(r'(\S+) is not in the (?:(\S+)::)?(.+?) registry')


def explain_registry_error(cfg: Config, error: BaseException) -> str | None:
    """A one-line explanation of mmengine's "X is not in the registry" ``KeyError``.

    Names the config key(s) whose ``type`` is unknown and suggests the closest registered name
    of that registry (and its parents, which a lookup also searches).

    Returns:
        str | None: the message, or ``None`` if ``error`` is another error.
    """
    match = _REGISTRY_MISS.search(str(error))
    if match is None:
        return None
    type_name, scope, registry_name = match.group(1).strip('`\'"'), match.group(2), \
        match.group(3)
    keys = _find_type(cfg._cfg_dict if isinstance(cfg, Config) else cfg, type_name)
    where = ', '.join(keys[:3]) if keys else 'the config'
    registry = _registry_named(scope, registry_name)
    names = []
    while registry is not None:
        registry.import_from_location()
        names += list(registry.module_dict)
        registry = registry.parent
    from mmdense.registry import RENAMED_MODELS
    renamed = RENAMED_MODELS.get(type_name.split('.')[-1]) if registry_name == 'model' else None
    close = difflib.get_close_matches(type_name.split('.')[-1], names, n=1, cutoff=0.6)
    hint = (f' It was renamed to {renamed}.' if renamed else
            f" Did you mean '{close[0]}'?" if close else '')
    label = f'{scope}::{registry_name}' if scope else registry_name
    return f"unknown type '{type_name}' at {where}: it is not in the {label} registry.{hint}"


# ---------------------------------------------------------------------------------------------
# Pretrained weights that must be downloaded
# ---------------------------------------------------------------------------------------------
def _remote_url(checkpoint: str) -> str | None:
    if checkpoint.startswith(('http://', 'https://')):
        return checkpoint
    for prefix in ('open-mmlab://', 'openmmlab://'):
        if checkpoint.startswith(prefix):
            from mmengine.runner.checkpoint import get_deprecated_model_names, get_external_models

            name = checkpoint[len(prefix):]
            name = get_deprecated_model_names().get(name, name)
            url = get_external_models().get(name)
            return url if isinstance(url, str) and url.startswith(('http://', 'https://')) \
                else None
    return None


def remote_pretrained_weights(cfg: Config | Mapping) -> list[dict]:
    """The ``Pretrained`` init configs of ``cfg`` whose checkpoint is downloaded from a URL.

    Returns:
        list[dict]: ``key`` (of the ``init_cfg``), ``checkpoint`` (as written), ``url`` and
        ``cache`` (where ``torch.hub``, hence mmengine, looks for the file before downloading).
    """
    import torch.hub

    found = []

    def visit(node: Any, key: str) -> None:
        if isinstance(node, Mapping):
            ckpt = node.get('checkpoint')
            if node.get('type') == 'Pretrained' and isinstance(ckpt, str):
                url = _remote_url(ckpt)
                if url is not None:
                    from urllib.parse import urlparse

                    cache = osp.join(torch.hub.get_dir(), 'checkpoints',
                                     osp.basename(urlparse(url).path))
                    found.append(dict(key=key, checkpoint=ckpt, url=url, cache=cache))
            for k, v in node.items():
                visit(v, f'{key}.{k}' if key else str(k))
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                visit(v, f'{key}.{i}')

    visit(cfg._cfg_dict if isinstance(cfg, Config) else cfg, '')
    return found


def _is_network_error(error: BaseException) -> bool:
    import socket
    import urllib.error

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (urllib.error.URLError, ConnectionError, socket.timeout,
                              socket.gaierror, TimeoutError)):
            return True
        error = error.__cause__ or error.__context__
    return False


def explain_download_error(cfg: Config, error: BaseException) -> str | None:
    """A one-line explanation of a failed download of pretrained weights.

    Returns:
        str | None: the message naming the URL, the local cache path to put the file in and
        the override that trains without it; ``None`` if ``error`` is not a network error or
        ``cfg`` downloads nothing that is not cached already.
    """
    if not _is_network_error(error):
        return None
    missing = [w for w in remote_pretrained_weights(cfg) if not osp.isfile(w['cache'])]
    if not missing:
        return None
    w = missing[0]
    more = f' ({len(missing) - 1} more weight file(s) are not cached either)' \
        if len(missing) > 1 else ''
    return (f"cannot download the pretrained weights of {w['key']} from {w['url']} "
            f'({type(error).__name__}: {error}). Without network, download the file elsewhere '
            f"and put it at {w['cache']}, or train from scratch with --cfg-options "
            f"{w['key']}=None{more}.")


__all__ = ['DictAction', 'UserInputError', 'load_config', 'check_cfg_key', 'check_cfg_value',
           'cfg_value', 'check_data_roots', 'dataloader_data_roots', 'check_work_dir',
           'fix_persistent_workers', 'explain_registry_error', 'remote_pretrained_weights',
           'explain_download_error']
