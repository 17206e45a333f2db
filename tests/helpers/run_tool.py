"""Run the command-line tools in a subprocess, as a user would."""
from __future__ import annotations

import os
import subprocess
import sys

from .seg_fixture import REPO

_GLOO_ABORT = 'terminate called without an active exception'


def run_tool(*args: str, timeout: int = 600, env: dict | None = None,
             check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python tools/<args>`` (or a shell script) from the repository root."""
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env['PYTHONPATH'] = REPO + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env['PYTHON'] = sys.executable
    if env:
        full_env.update(env)
    if args[0].endswith('.sh'):
        cmd = ['bash', *args]
    else:
        cmd = [sys.executable, *args]
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0 and _GLOO_ABORT in proc.stderr and 'dist_' in args[0]:
        # Known, not yet understood: on a loaded 2-core machine a gloo rank sometimes aborts
        # ("terminate called without an active exception", SIGABRT) right after a run that
        # otherwise succeeded. One relaunch, announced, so that a deterministic failure still
        # fails the test.
        print(f'{args[0]}: a rank aborted in gloo; launching once more', file=sys.stderr)
        proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True,
                              timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n'
            f'{proc.stderr[-4000:]}')
    return proc
