"""The code base passes ruff with the configuration of pyproject.toml (CI lints through this)."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which('ruff', path=str(Path(sys.executable).parent)) or shutil.which('ruff')
    assert ruff, 'ruff is not installed: it is part of the "tests" extra (bash tools/install.sh)'
    proc = subprocess.run([ruff, 'check', '--no-cache', '--output-format', 'concise', str(ROOT)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
