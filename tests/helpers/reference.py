"""Official reference facts (state-dict keys and shapes, counts, output statistics) stored in
``tests/data/<name>.keys.json``; tests/data/README.md says where each file comes from.

The files are part of the repository: a missing one is an error, never a reason to skip.
"""
from __future__ import annotations

import json
import os.path as osp

DATA_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data')


def reference_path(name: str) -> str:
    """Path of ``tests/data/<name>.keys.json``."""
    return osp.join(DATA_DIR, f'{name}.keys.json')


def load_reference(name: str) -> dict:
    """The facts of the official model ``name`` (e.g. ``'mpvit_tiny'``).

    Raises:
        FileNotFoundError: the fixture is not in tests/data (it is tracked: restore it).
    """
    path = reference_path(name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'reference fixture {path} is missing; it is part of the '
                                'repository (see tests/data/README.md)')
    with open(path) as f:
        return json.load(f)


def reference_layout(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """``[(key, shape), ...]`` of the official state dict, in its order."""
    return [(k, tuple(s)) for k, s in load_reference(name)['state_dict']]
