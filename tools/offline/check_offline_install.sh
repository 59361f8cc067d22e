#!/usr/bin/env bash
# The offline install, tried here as the GPU machine of tools/offline/h200.txt would see it
# (README, "Offline install"; opt-in, about 30 min on 2 cores the first time, most of it the
# downloads and the mmcv build, which are kept in WORK):
#
#     tools/offline/check_offline_install.sh [WORK]     # default ~/.cache/vidreg-mm/offline-check
#
# 1. WORK/target: a Python 3.12 virtual environment with torch 2.11 and numpy 2 installed
#    first, then the packages the target file says the machine holds (newest releases).
# 2. WORK/wheels: the wheel folder (tools/offline_wheels.py; mmcv built against that torch),
#    and WORK/inception_fp16.pt: the float16 FID Inception (tools/inception_half.py).
# 3. A copy of this checkout in WORK/repo, where, with the network cut (a new network
#    namespace, and pip --no-index): the offline bootstrap into WORK/target's environment,
#    `make check`, a 4-step training of the articulation recipe with a final evaluation (FID
#    in the float16 Inception's features), and tools/test.py on its checkpoint.
# Exits non-zero at the first step that fails; the last line says what passed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/vidreg-mm/offline-check}"
PY312="${VIDREG_PY312:-python3.12}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
log() { printf '[offline-check] %s\n' "$*" >&2; }
T0=$SECONDS

# --- 1. the target environment ----------------------------------------------------------------
TARGET_FILE="$ROOT/tools/offline/h200.txt"
TORCH_V="$(sed -n 's/^torch \([^ #]*\).*/\1/p' "$TARGET_FILE")"
if ! "$WORK/target/bin/python" -c 'import torch' 2>/dev/null; then
    log "creating $WORK/target: Python 3.12, torch $TORCH_V, numpy 2"
    "$PY312" -m venv "$WORK/target"
    # torchvision: the release made for that torch (pip picks it under the torch pin)
    "$WORK/target/bin/pip" install -q "torch==$TORCH_V" torchvision 'numpy>=2,<3'
fi
# what was installed first stays as it is while the rest of the target is added
PINS="$WORK/pins.txt"
"$WORK/target/bin/pip" freeze --all | grep -iE '^(torch|torchvision|numpy)==' > "$PINS"
HAS="$(sed -n 's/^has //p' "$TARGET_FILE" | tr ' ' '\n' \
       | grep -vxE 'torch|torchvision|numpy|' | tr '\n' ' ')"
# --- 2. the wheel folder (mmcv is built in the target environment: its Python, its torch) ----
python_of_root="$ROOT/.venv/bin/python"
[ -x "$python_of_root" ] || python_of_root=python3
"$python_of_root" "$ROOT/tools/offline_wheels.py" --target "$TARGET_FILE" \
    --build-python "$WORK/target/bin/python" --out "$WORK/wheels"
log "installing what the target holds: $HAS"
# shellcheck disable=SC2086
"$WORK/target/bin/pip" install -q -c "$PINS" -U setuptools $HAS
"$python_of_root" "$ROOT/tools/inception_half.py" "$WORK/inception_fp16.pt"

# --- 3. without network: install, check, train, test ------------------------------------------
rm -rf "$WORK/repo"
mkdir -p "$WORK/repo"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -I{} cp --parents -r {} "$WORK/repo/")
OFFLINE_RUN=(env PIP_NO_INDEX=1)
if unshare -n true 2>/dev/null; then
    OFFLINE_RUN=(unshare -n "${OFFLINE_RUN[@]}")
else
    log 'cannot make a network namespace here: pip --no-index alone keeps the install offline'
fi
cd "$WORK/repo"
"${OFFLINE_RUN[@]}" bash -euo pipefail -c '
    export VIDREG_OFFLINE_WHEELS="$1" VIDREG_PYTHON="$2/bin/python" VIDREG_INCEPTION="$3"
    make check
    SMOKE="train_cfg.max_iters=4 train_cfg.val_interval=4 default_hooks.checkpoint.interval=4
           model.num_sample_steps=2 default_hooks.sample_grid.num_steps=2
           val_evaluator.metrics.fid_train.fake_nums=8 val_evaluator.metrics.fid_val.fake_nums=8
           val_evaluator.metrics.kid_train.fake_nums=8 val_evaluator.metrics.kid_val.fake_nums=8
           val_evaluator.metrics.diversity_train.fake_nums=8
           val_evaluator.metrics.diversity_val.fake_nums=8
           val_evaluator.metrics.roughness.fake_nums=8
           val_evaluator.metrics.fid_train.real_nums=64 val_evaluator.metrics.fid_val.real_nums=64
           val_evaluator.metrics.kid_train.real_nums=64 val_evaluator.metrics.kid_val.real_nums=64
           val_evaluator.metrics.diversity_train.real_nums=64
           val_evaluator.metrics.diversity_val.real_nums=64
           val_evaluator.metrics.roughness.real_nums=64"
    .venv/bin/python tools/train.py configs/synthetic_hands_articulation_temporal_cpu.py \
        --work-dir work_dirs/offline_check --cfg-options $SMOKE
    .venv/bin/python tools/test.py configs/synthetic_hands_articulation_temporal_cpu.py \
        work_dirs/offline_check/iter_4.pth --work-dir work_dirs/offline_check_test \
        --cfg-options ${SMOKE//val_evaluator/test_evaluator}
' offline "$WORK/wheels" "$WORK/target" "$WORK/inception_fp16.pt"
log "passed in $((SECONDS - T0)) s: offline install into Python 3.12 + torch $TORCH_V (numpy 2 kept outside the venv), make check, a 4-step training with its evaluation, tools/test.py"
