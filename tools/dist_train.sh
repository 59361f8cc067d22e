#!/usr/bin/env bash
# Multi-process training with torchrun: tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
exec "$(dirname "$0")/dist_launch.sh" "$(dirname "$0")/train.py" "$2" "$1" "${@:3}"
