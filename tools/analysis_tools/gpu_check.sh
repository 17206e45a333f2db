#!/usr/bin/env bash
# The checks and benchmarks a GPU machine should run on one GPU; every step has a time limit and
# the limits add up to under 8 minutes (465 s).
#
#   bash tools/analysis_tools/gpu_check.sh [--out DIR] [--dry-run]
#
# 1. the CUDA test subset (`pytest -m cuda`: fused attention kernels, deformable sampling on CUDA
#    vs CPU, one AMP train step per model family);
# 2. a short AMP (fp16, mmengine's AmpOptimWrapper) training run through tools/train.py (DeMT on the synthetic NYUD set);
# 3. benchmarks (bf16 autocast, inference and train step, MFU against the GPU's dense bf16 peak):
#    DeMT HRNet-18 and Swin-T on NYUD 448x576 batch 8, UperNet MPViT-S and DAT-T 512x512
#    batch 16, kMaX-DeepLab R50 1281x1281 batch 4.
# Results: DIR (default work_dirs/gpu_check) holds one JSON per benchmark, the logs and
# summary.md, a table to paste into the README with the GPU named. --dry-run lists the steps
# without running them (no GPU needed). Uses the venv of tools/run.sh ($MMDENSE_VENV or ./.venv);
# build it first with `bash tools/run.sh install` (mmcv's CUDA ops are built on a GPU node).
set -euo pipefail

main() {
  local root out dry=0
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  out=work_dirs/gpu_check
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) dry=1 ;;
      --out) out=${2:?--out needs a directory}; shift ;;
      -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; return 2 ;;
    esac
    shift
  done
  cd "$root"
  # This checkout's code, whichever clone the venv was installed from.
  export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
  local py="${MMDENSE_VENV:-$root/.venv}/bin/python"

  # name|timeout (s)|command
  local steps=(
    "cuda-tests|150|$py -m pytest tests -m cuda -q -p no:cacheprovider"
    "amp-train|90|env WORK_DIR=$out/amp_train bash tools/analysis_tools/gpu_check.sh --amp-train"
  )
  local bench="$py tools/analysis_tools/benchmark.py --device cuda --amp --amp-dtype bf16"
  bench="$bench --warmup 3 --repeat 10"
  local b
  for b in \
    "demt_hrnet18|configs/demt/nyud_hrnet.py|448 576|8" \
    "demt_swin-t|configs/demt/nyud_swin-t.py|448 576|8" \
    "upernet_mpvit-s|configs/mpvit/upernet_mpvit-s_8xb2-160k_ade20k-512x512.py|512 512|16" \
    "upernet_dat-t|configs/dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py|512 512|16" \
    "kmax_r50|configs/kmax/kmax_r50_8xb8-150k_coco-panoptic-1281x1281.py|1281 1281|4"; do
    IFS='|' read -r name cfg shape batch <<<"$b"
    steps+=("bench-$name|45|$bench $cfg --shape $shape --batch-size $batch --json $out/$name.json")
  done

  if [ "$dry" = 1 ]; then
    local s
    for s in "${steps[@]}"; do
      IFS='|' read -r name limit cmd <<<"$s"
      printf '%-22s (<= %ss)  %s\n' "$name" "$limit" "$cmd"
    done
    echo "summary                        $out/summary.md"
    return 0
  fi

  if [ ! -x "$py" ]; then
    echo "gpu_check.sh: no venv at ${py%/bin/python}; run 'bash tools/run.sh install' first" >&2
    return 2
  fi
  if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check.sh: no CUDA device visible to torch ($py); this script needs a GPU" >&2
    return 2
  fi
  mkdir -p "$out"
  "$py" -c 'import torch; print("GPU:", torch.cuda.get_device_name(), "| torch", torch.__version__, "CUDA", torch.version.cuda)' | tee "$out/device.txt"
  local failed=() start s
  for s in "${steps[@]}"; do
    IFS='|' read -r name limit cmd <<<"$s"
    start=$(date +%s)
    echo "== $name"
    # shellcheck disable=SC2086  # the commands are word lists
    if timeout "$limit" $cmd >"$out/$name.log" 2>&1; then
      echo "   ok ($(( $(date +%s) - start )) s)"
    else
      echo "   FAILED ($(( $(date +%s) - start )) s): see $out/$name.log"; tail -5 "$out/$name.log"
      failed+=("$name")
    fi
  done
  local names=()
  for s in "${steps[@]}"; do
    IFS='|' read -r name limit cmd <<<"$s"
    case "$name" in bench-*) names+=("${name#bench-}") ;; esac
  done
  "$py" - "$out" "${names[@]}" <<'PY' \
    | tee "$out/summary.md"
import json, os.path as osp, sys
import torch
from mmdense.utils.perf import summary_table
out, names = sys.argv[1], sys.argv[2:]
results = {}
for name in names:
    path = osp.join(out, name + '.json')
    results[name] = json.load(open(path)) if osp.isfile(path) else None
print(summary_table(results, torch.cuda.get_device_name()))
PY
  if [ ${#failed[@]} -gt 0 ]; then
    echo "gpu_check.sh: failed: ${failed[*]}" >&2
    return 1
  fi
}

# Step 2: a few iterations of the DeMT quick start with AMP through the runner.
amp_train() {
  local root py work
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  cd "$root"
  py="${MMDENSE_VENV:-$root/.venv}/bin/python"
  work=${WORK_DIR:-work_dirs/gpu_check/amp_train}
  if [ ! -f data/synthetic_nyud/gt_sets/val.txt ]; then
    "$py" tools/misc/make_synthetic_nyud.py data/synthetic_nyud
  fi
  "$py" tools/train.py configs/demt/quickstart_synthetic-nyud.py --amp --work-dir "$work" \
    --cfg-options train_cfg.max_iters=20 train_cfg.val_interval=20
}

if [ "${1:-}" = --amp-train ]; then
  amp_train
else
  main "$@"
fi
