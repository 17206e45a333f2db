#!/usr/bin/env bash
# The README's entry point. Each command installs first (idempotent: fast when up to date).
#
#   bash tools/run.sh quickstart   # install, then train + evaluate DeMT on the built-in dataset
#   bash tools/run.sh test         # install, then run the whole test suite
#   bash tools/run.sh install      # install only
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
cmd=${1:-help}
shift || true

bash tools/install.sh
PY="${MMDENSE_VENV:-$ROOT/.venv}/bin/python"

case "$cmd" in
  install) ;;
  test)
    # pytest exits 5 when it collected no test: that must fail, not pass.
    set +e
    # pytest-xdist: one worker per core (at most 4; MMDENSE_TEST_WORKERS overrides, 0 runs
    # in this process); tests/conftest.py keeps the tests sharing a fixture on one worker.
    workers=${MMDENSE_TEST_WORKERS:-$(n=$(nproc); echo $(( n < 4 ? n : 4 )))}
    "$PY" -m pytest tests -n "$workers" --dist loadgroup "$@"
    status=$?
    set -e
    if [ "$status" -eq 5 ]; then
      echo "error: pytest collected no tests" >&2
      exit 1
    fi
    exit "$status"
    ;;
  quickstart)
    exec bash tools/misc/quickstart.sh "$@"
    ;;
  *)
    sed -n '2,7p' "$0"
    exit 2
    ;;
esac
