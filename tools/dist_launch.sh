#!/usr/bin/env bash
# torchrun launcher shared by dist_train.sh and dist_test.sh:
#   tools/dist_launch.sh SCRIPT NPROC [script args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
SCRIPT=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
source "$(dirname "$0")/project_python.sh"  # PYTHON and ROOT

PYTHONPATH="$ROOT":$PYTHONPATH \
exec $PYTHON -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$NPROC \
    --master_port=$PORT \
    "$SCRIPT" \
    --launcher pytorch "${@:3}"
