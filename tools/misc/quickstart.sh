#!/usr/bin/env bash
# The built-in quick start (no download): write a synthetic NYUD-v2-style dataset, train a small
# DeMT on it with validation and checkpoints, then evaluate the final checkpoint and draw its
# predictions. Called by `bash tools/run.sh quickstart` after the install.
#
# Extra arguments go to tools/train.py (e.g. --cfg-options train_cfg.max_iters=200).
set -euo pipefail
main() {
  local root py cfg data work
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  cd "$root"
  py="${MMDENSE_VENV:-$root/.venv}/bin/python"
  cfg=configs/demt/quickstart_synthetic-nyud.py
  data=data/synthetic_nyud
  work=${WORK_DIR:-work_dirs/quickstart_synthetic-nyud}

  if [ ! -f "$data/gt_sets/val.txt" ]; then
    echo "[quickstart] writing the synthetic dataset to $data"
    "$py" tools/misc/make_synthetic_nyud.py "$data"
  fi
  echo "[quickstart] training $cfg (work dir: $work)"
  "$py" tools/train.py "$cfg" --work-dir "$work" "$@"
  local ckpt
  ckpt=$(cat "$work/last_checkpoint")
  echo "[quickstart] evaluating $ckpt and drawing predictions to $work/test/vis/vis_data/vis_image"
  "$py" tools/test.py "$cfg" "$ckpt" --work-dir "$work/test" --show-dir vis
  echo "[quickstart] done: checkpoints in $work, metrics in $work/test/*/*.log, pictures in $work/test/vis/vis_data/vis_image"
}
main "$@"
