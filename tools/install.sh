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

# wheel_cache_key PYVER TORCH_VERSION TORCH_CUDA NVCC GPU REQUEST prints the wheel-cache folder name.
# A CPU build keeps the plain key (cp311-torch2.14.1); a build with mmcv's CUDA ops gets the torch
# CUDA version appended (cp311-torch2.14.1-cu130), so wheels built without CUDA ops (e.g. on a
# login node) are never reused where CUDA ops are built. CUDA ops are built when REQUEST is 1, or
# when REQUEST is auto (the default), torch is a CUDA build (TORCH_CUDA, torch.version.cuda, not
# empty), nvcc was found (NVCC, a path or empty) and a GPU is visible (GPU=1): a CPU-only
# machine that happens to carry a toolkit keeps the (much faster) CPU build unless asked.
wheel_cache_key() {
  local pyver=$1 torch_version=$2 torch_cuda=$3 nvcc=$4 gpu=$5 request=${6:-auto}
  local base="$pyver-torch$torch_version" cuda=0
  case "$request" in
    0) ;;
    1)
      if [ -z "$torch_cuda" ]; then
        echo "MMDENSE_CUDA_OPS=1 but torch $torch_version is a CPU-only build" >&2; return 1
      fi
      if [ -z "$nvcc" ]; then
        echo "MMDENSE_CUDA_OPS=1 but no nvcc was found (set CUDA_HOME or PATH)" >&2; return 1
      fi
      cuda=1 ;;
    auto) if [ -n "$torch_cuda" ] && [ -n "$nvcc" ] && [ "$gpu" = 1 ]; then cuda=1; fi ;;
    *) echo "MMDENSE_CUDA_OPS must be auto, 0 or 1, got '$request'" >&2; return 1 ;;
  esac
  if [ "$cuda" = 1 ]; then
    echo "$base-cu${torch_cuda//./}"
  else
    echo "$base"
  fi
}

# Path of nvcc ($CUDA_HOME/bin first, then PATH, then /usr/local/cuda), or nothing.
find_nvcc() {
  local c
  for c in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "$(command -v nvcc || true)" \
      /usr/local/cuda/bin/nvcc; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
}

# 1 when an NVIDIA GPU is visible to this process.
gpu_visible() {
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    echo 1
  else
    echo 0
  fi
}

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
# A venv installed where no GPU was visible is redone on a GPU node (mmcv's CUDA ops).
stamp="$stamp_key:$EXTRAS:$ROOT:gpu$(gpu_visible):${MMDENSE_CUDA_OPS:-auto}"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  log "up to date ($VENV)"
  exit 0
fi

log "torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION"
"${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

pyver=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
torch_cuda=$("$PY" -c 'import torch; print(torch.version.cuda or "")')
NVCC=$(find_nvcc)
wheel_key=$(wheel_cache_key "$pyver" "$TORCH_VERSION" "$torch_cuda" "$NVCC" "$(gpu_visible)" \
  "${MMDENSE_CUDA_OPS:-auto}")
WHEELS="$CACHE/wheels/$wheel_key"
mkdir -p "$WHEELS"
MMCV_CUDA_ENV=()
if [ "$wheel_key" != "$pyver-torch$TORCH_VERSION" ]; then
  # mmcv's setup.py compiles the CUDA ops only with FORCE_CUDA=1 when no GPU is visible;
  # TORCH_CUDA_ARCH_LIST (e.g. "8.0;9.0"), if set, limits the architectures compiled.
  MMCV_CUDA_ENV=(FORCE_CUDA=1 CUDA_HOME="$(dirname "$(dirname "$NVCC")")")
  log "mmcv with CUDA ops ($NVCC, torch CUDA $torch_cuda); wheels in $WHEELS"
else
  log "mmcv with CPU ops only; wheels in $WHEELS (MMDENSE_CUDA_OPS=1 builds the CUDA ops)"
fi
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
    (cd "$src" && env MAX_JOBS="${MAX_JOBS:-2}" CFLAGS=-g0 MMCV_WITH_OPS=1 \
      ${MMCV_CUDA_ENV[@]+"${MMCV_CUDA_ENV[@]}"} \
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
# --force-reinstall: the same mmcv version may be installed from the other (CPU/CUDA) cache.
"${PIP[@]}" install --no-deps --force-reinstall "$WHEELS"/*.whl

log "installing mmdense (editable, extras: $EXTRAS)"
"${PIP[@]}" install -e "$ROOT[$EXTRAS]"

"$PY" -c "import mmcv.ops, mmseg.models, mmpose.models, mmdense" \
  || { log "import check failed"; exit 1; }
echo "$stamp" >"$stamp_file"
log "done: activate with 'source $VENV/bin/activate'"
}

# Sourcing the file (the tests do) defines the functions without installing anything.
if ! (return 0 2>/dev/null); then
  main "$@"
fi
