#!/usr/bin/env bash
# Idempotent installer for mmdense on a machine with nothing but Python 3.10+ and a C++ compiler.
#
#   bash tools/install.sh            # creates ./.venv and installs mmdense editable (+ test extras)
#
# Heavy builds (mmcv's compiled ops, xtcocotools, pyEdgeEval, chumpy) are cached as wheels in
# $MMDENSE_CACHE (default ~/.cache/mmdense), keyed by package, torch and Python versions, so a
# second run on the same machine, even from another clone, installs in a few minutes and a run on
# an up-to-date venv returns at once. The comment above each step says why it is needed; run-time
# workarounds live in mmdense/utils/compat.py.
set -euo pipefail

# Everything runs inside main so bash parses the whole file before executing it.
main() {

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMDENSE_VENV:-$ROOT/.venv}
CACHE=${MMDENSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdense}
PYTHON=${PYTHON:-python3}
EXTRAS=${MMDENSE_EXTRAS:-tests,deploy}

# Keep in step with pyproject.toml (tests/test_install_pins.py checks it).
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
XTCOCOTOOLS_VERSION=1.14.3
CHUMPY_VERSION=0.70
PYEDGEEVAL_VERSION=0.2.8

log() { printf '[mmdense install] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment at $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

# The stamp records what the venv was built from; unchanged inputs mean nothing to do.
stamp_key=$(cat "$ROOT/pyproject.toml" "$ROOT/tools/install.sh" | sha256sum | cut -c1-16)
stamp_file="$VENV/.mmdense-install-stamp"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp_key:$EXTRAS:$ROOT" ]; then
  log "up to date ($VENV)"
  exit 0
fi

pyver=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
WHEELS="$CACHE/wheels/$pyver-torch$TORCH_VERSION"
mkdir -p "$WHEELS"

log "torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION"
"${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
# setuptools<81 keeps pkg_resources, which mmcv's setup.py and mmengine import.
"${PIP[@]}" install "setuptools>=77.0.3,<81" wheel ninja psutil "numpy>=2.0,<2.5" "cython>=3"

# build_wheel NAME VERSION [patch-function]: builds NAME==VERSION from its sdist into $WHEELS once.
build_wheel() {
  local name=$1 version=$2 patch=${3:-}
  local norm=${name//-/_}
  if ls "$WHEELS"/"$norm"-"$version"-*.whl >/dev/null 2>&1 || ls "$WHEELS"/"${norm,,}"-"$version"-*.whl >/dev/null 2>&1; then
    return 0
  fi
  local work
  work=$(mktemp -d)
  log "building $name $version from source (cached in $WHEELS afterwards)"
  "${PIP[@]}" download --no-deps --no-build-isolation --no-binary "$name" -d "$work" "$name==$version"
  if [ -n "$patch" ]; then
    tar -xzf "$work"/*.tar.gz -C "$work"
    local src
    src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    "$patch" "$src"
    (cd "$src" && MAX_JOBS=${MAX_JOBS:-2} CFLAGS=-g0 MMCV_WITH_OPS=1 \
      "$PY" -m pip wheel -q --no-build-isolation --no-deps -w "$work/out" .)
  else
    "$PY" -m pip wheel -q --no-build-isolation --no-deps -w "$work/out" "$work"/*.tar.gz
  fi
  cp "$work"/out/*.whl "$WHEELS"/
  rm -rf "$work"
}

# torch >= 2.6 headers require C++20; mmcv 2.1.0's setup.py hard-codes -std=c++17 last on the
# command line, so CFLAGS cannot override it.
patch_mmcv() { sed -i "s/'-std=c++17'/'-std=c++20'/g" "$1/setup.py"; }

build_wheel mmcv "$MMCV_VERSION" patch_mmcv
# The PyPI wheel of xtcocotools is built against numpy 1 and fails under numpy 2.
build_wheel xtcocotools "$XTCOCOTOOLS_VERSION"
# chumpy's setup.py imports pip, which an isolated build lacks; mmpose lists it but never imports it.
build_wheel chumpy "$CHUMPY_VERSION"
# pyEdgeEval ships only an sdist (Cython); it gives the BSDS boundary matching for DeMT's odsF.
build_wheel pyEdgeEval "$PYEDGEEVAL_VERSION"

log "installing cached wheels"
"${PIP[@]}" install --no-deps "$WHEELS"/*.whl

log "installing mmdense (editable, extras: $EXTRAS)"
"${PIP[@]}" install -e "$ROOT[$EXTRAS]"

"$PY" -c "import mmcv.ops, mmseg.models, mmpose.models, mmdense" \
  || { log "import check failed"; exit 1; }
echo "$stamp_key:$EXTRAS:$ROOT" >"$stamp_file"
log "done: activate with 'source $VENV/bin/activate'"
}

main "$@"
