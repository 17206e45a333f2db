#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT are honoured. On a machine without CUDA
# the processes run on CPU with the gloo backend (useful to debug a launch on a laptop).
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
# The project's environment, as tools/run.sh uses it: $PYTHON if set, else the venv that
# tools/install.sh builds ($MMDENSE_VENV, default .venv at the repository root).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-${MMDENSE_VENV:-$ROOT/.venv}/bin/python}
if ! command -v "$PYTHON" >/dev/null; then
  echo "error: no Python environment at $PYTHON; run 'bash tools/install.sh' (or set MMDENSE_VENV or PYTHON)" >&2
  exit 2
fi

PYTHONPATH="$ROOT":${PYTHONPATH:-} \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$ROOT/tools/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
