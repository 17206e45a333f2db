"""Helpers shared by the command-line tools: config loading and input checks with clear errors.

The tools turn the user errors they can foresee (missing config, unknown ``--cfg-options`` key,
missing data root) into one-line messages instead of tracebacks from deep inside mmengine.
"""
from __future__ import annotations

import difflib
import os
import os.path as osp
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
            that is not in the config.
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
        for key in cfg_options:
            check_cfg_key(cfg, key)
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


__all__ = ['DictAction', 'UserInputError', 'load_config', 'check_cfg_key',
           'check_data_roots', 'dataloader_data_roots']
