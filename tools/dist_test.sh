#!/usr/bin/env bash
# Multi-process evaluation with torchrun: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
exec "$(dirname "$0")/dist_launch.sh" "$(dirname "$0")/test.py" "$3" "$1" "$2" "${@:4}"
