#!/usr/bin/env bash
# Create or update the project's virtual environment (default: .venv/ in the repository root).
#
# Idempotent: a second run with nothing changed only compares a fingerprint and exits.
# Steps of a first run (each skipped when already satisfied):
#   1. python3.11 -m venv .venv; pin pip/setuptools/wheel
#   2. torch + torchvision as one pair (requirements/torch.txt), then check they load together
#   3. mmcv with compiled ops: wheel built once against this torch and kept in a wheelhouse
#   4. vidreg_mm (editable) with its runtime and test dependencies, under the lock file
#
# Offline, into an environment that already has torch (VIDREG_OFFLINE_WHEELS=DIR): the
# virtual environment sees that environment's packages (venv --system-site-packages), keeps
# its torch, installs mmcv and the rest from DIR with pip --no-index (a folder made by
# tools/offline_wheels.py on a machine with a network), then vidreg_mm (editable).
#
# Environment variables:
#   VIDREG_VENV            where the environment lives (default: <repo>/.venv)
#   VIDREG_PYTHON          interpreter to create it with (default: python3.11)
#   VIDREG_WHEELHOUSE      where the built mmcv wheel is kept (default: ~/.cache/vidreg-mm/wheels)
#   VIDREG_TORCH_PIP_ARGS  extra pip arguments for the torch pair, e.g.
#                          "--index-url https://download.pytorch.org/whl/cu121"
#   VIDREG_NO_LOCK=1       resolve without requirements/constraints.txt (used by `make lock`)
#   VIDREG_OFFLINE_WHEELS  the offline mode's wheel folder (VIDREG_PYTHON then defaults to
#                          python3: the interpreter of the environment that has torch)
#   MAX_JOBS               parallel compile jobs for the mmcv build (default: nproc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VIDREG_VENV:-$ROOT/.venv}"
OFFLINE="${VIDREG_OFFLINE_WHEELS:-}"
if [ -n "$OFFLINE" ]; then
    OFFLINE="$(cd "$OFFLINE" 2>/dev/null && pwd)" \
        || { printf '[bootstrap] ERROR: VIDREG_OFFLINE_WHEELS=%s is not a folder\n' "$VIDREG_OFFLINE_WHEELS" >&2; exit 1; }
    PYTHON="${VIDREG_PYTHON:-python3}"
else
    PYTHON="${VIDREG_PYTHON:-python3.11}"
fi
WHEELHOUSE="${VIDREG_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/vidreg-mm/wheels}"
REQ="$ROOT/requirements"
STAMP="$VENV/.vidreg-bootstrap"

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# Fingerprint of everything that decides the environment's content.
fingerprint() {
    { cat "$ROOT/setup.py" "$REQ"/*.txt "$ROOT/tools/bootstrap.sh"; if [ -n "$OFFLINE" ]; then ls -l "$OFFLINE"; fi; } \
        | { [ -n "${VIDREG_NO_LOCK:-}" ] && echo nolock; cat; } | sha256sum | cut -d' ' -f1
}
FP="$(fingerprint)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$FP" ]; then
    log "environment up to date: $VENV"
    exit 0
fi
T0=$SECONDS

CONSTRAINTS=()
[ -z "${VIDREG_NO_LOCK:-}" ] && CONSTRAINTS=(-c "$REQ/constraints.txt")

# Pinned version of a package in the lock (empty when unlocked or not listed).
locked() { [ -z "${VIDREG_NO_LOCK:-}" ] && sed -n "s/^$1==\([^ ;]*\).*/\1/ip" "$REQ/constraints.txt" | head -n1; true; }
pin() { local v; v="$(locked "$1")"; if [ -n "$v" ]; then echo "$1==$v"; else echo "$1"; fi; }
req_version() { sed -n "s/^$1==\([^ ;#]*\).*/\1/p" "$2" | head -n1; }

# --- offline: into the environment of $PYTHON, which has torch ------------------------------
if [ -n "$OFFLINE" ]; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found (set VIDREG_PYTHON to the interpreter of the environment that has torch)"
    "$PYTHON" -c 'import torch' 2>/dev/null \
        || die "'$PYTHON' cannot import torch: the offline mode installs into an environment that has it (VIDREG_PYTHON)"
    ls "$OFFLINE"/mmcv-*.whl >/dev/null 2>&1 \
        || die "no mmcv wheel in $OFFLINE: make the folder with tools/offline_wheels.py (README, Offline install)"
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV on $("$PYTHON" -V 2>&1) with its packages (torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))"
        "$PYTHON" -m venv --system-site-packages "$VENV"
        # The environment of $PYTHON may itself be a virtual environment, whose packages
        # --system-site-packages does not see: its site folders are added after the new
        # environment's own (site.addsitedir, so their .pth files work), so that what the
        # wheel folder installs (numpy < 2) comes first and everything else is theirs.
        SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
        "$PYTHON" - "$SITE/_vidreg_base_environment.pth" <<'EOF'
import site, sys
dirs = [d for d in site.getsitepackages() + [site.getusersitepackages()] if d]
with open(sys.argv[1], 'w') as f:
    f.write('import site; ' + '; '.join(f'site.addsitedir({d!r})' for d in dirs) + '\n')
EOF
    fi
    PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
    log "installing the wheels of $OFFLINE (no network)"
    # --no-deps: the folder is the complete set beside what the environment has (MANIFEST.txt)
    "${PIP[@]}" install -q --no-index --no-deps --no-compile $(ls "$OFFLINE"/*.whl | grep -v '/vidreg_mm-')
    # --use-pep517: the environment's own setuptools builds the editable install (PEP 660);
    # the legacy `setup.py develop` of setuptools >= 80 calls pip again with build
    # isolation, which fetches setuptools from an index that is not there
    "${PIP[@]}" install -q --no-index --no-deps --no-build-isolation --use-pep517 -e "$ROOT"
    # what the folder left out on purpose (video decoders, the FID Inception): make check
    # reports those checks as skipped, not failed (vidreg_mm.env_check)
    if [ -f "$OFFLINE/MANIFEST.txt" ]; then cp "$OFFLINE/MANIFEST.txt" "$VENV/vidreg-offline-manifest.txt"; fi
    "$VENV/bin/python" -c 'import torch, mmcv, vidreg_mm, mmagic.models; from mmcv.ops import nms' \
        || die "the offline install does not import (see above): a package the environment lacks is missing from $OFFLINE"
    echo "$FP" > "$STAMP"
    log "environment ready in $((SECONDS - T0)) s: $VENV (torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') kept)"
    exit 0
fi

# --- 1. the virtual environment ------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null 2>&1 \
        || die "'$PYTHON' not found. Install Python 3.11, or set VIDREG_PYTHON to a Python 3.11 interpreter."
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
        || die "'$PYTHON' is $("$PYTHON" -V 2>&1); the stack is tested on Python 3.11 (set VIDREG_PYTHON)."
    log "creating $VENV with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q "$(pin pip)" "$(pin setuptools)" "$(pin wheel)"

# --- 2. torch + torchvision -----------------------------------------------------------------
TORCH_V="$(req_version torch "$REQ/torch.txt")"
TV_V="$(req_version torchvision "$REQ/torch.txt")"
torch_pair_ok() {
    "$PY" - "$TORCH_V" "$TV_V" <<'EOF' 2>/dev/null
import sys
import torch, torchvision
base = lambda v: v.split('+')[0]
assert base(torch.__version__) == sys.argv[1] and base(torchvision.__version__) == sys.argv[2]
torch.ops.torchvision.nms  # the compiled ops load against this torch
EOF
}
if ! torch_pair_ok; then
    log "installing torch==$TORCH_V torchvision==$TV_V"
    # --isolated: take both from the index named here (PyPI unless VIDREG_TORCH_PIP_ARGS says
    # otherwise), ignoring local find-links that may hold a torch of another build.
    # shellcheck disable=SC2086
    "${PIP[@]}" install --isolated ${PIP_CERT:+--cert "$PIP_CERT"} "${CONSTRAINTS[@]}" \
        -r "$REQ/torch.txt" ${VIDREG_TORCH_PIP_ARGS:-}
    if ! torch_pair_ok; then
        "$PY" -c 'import torchvision' 2>&1 | tail -n 3 >&2 || true
        die "torch and torchvision do not load together in $VENV (e.g. 'operator torchvision::nms does not exist').
  They must be one matching pair from one source. Fix:
    $VENV/bin/pip uninstall -y torch torchvision
    $VENV/bin/pip install --isolated torch==$TORCH_V torchvision==$TV_V      # PyPI builds (CUDA, run on CPU too)
  or both CPU builds from one index:
    VIDREG_TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu' tools/bootstrap.sh"
    fi
fi
TORCH_FULL="$("$PY" -c 'import torch; print(torch.__version__)')"

# --- 3. mmcv with compiled ops ----------------------------------------------------------------
MMCV_V="$(req_version mmcv "$REQ/mmcv.txt")"
mmcv_ok() {
    "$PY" - "$MMCV_V" <<'EOF' 2>/dev/null
import sys
import mmcv
assert mmcv.__version__ == sys.argv[1]
from mmcv.ops import nms  # noqa: F401  compiled ops present and loadable
EOF
}
if ! mmcv_ok; then
    CUDA_TAG="$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
    WH="$WHEELHOUSE/mmcv-$MMCV_V-torch-$TORCH_FULL-$CUDA_TAG-$("$PY" -c 'import sys; print("py%d%d" % sys.version_info[:2])')"
    if ! ls "$WH"/mmcv-"$MMCV_V"-*.whl >/dev/null 2>&1; then
        log "building mmcv==$MMCV_V with ops against torch $TORCH_FULL ($CUDA_TAG); takes ~8 min on 2 cores"
        # mmcv's setup.py imports pkg_resources: build with an old setuptools, then restore the pin.
        ST_V="$("$PY" -c 'import setuptools; print(setuptools.__version__)')"
        "${PIP[@]}" install -q "setuptools<70" ninja
        mkdir -p "$WH"
        # --no-cache-dir: pip's wheel cache is keyed by the sdist, not by the torch the ops were
        # compiled against, and would hand back a wheel built for another torch.
        MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "${PIP[@]}" wheel --no-cache-dir --no-build-isolation --no-deps -w "$WH" \
            "mmcv==$MMCV_V" \
            || die "building mmcv==$MMCV_V failed (see the compiler output above). Needs gcc/g++ and the
  Python headers (Debian: apt-get install build-essential python3-dev). See README, Troubleshooting."
        "${PIP[@]}" install -q "setuptools==$ST_V"
    fi
    "${PIP[@]}" install --no-deps --force-reinstall "$WH"/mmcv-"$MMCV_V"-*.whl
fi

# --- 4. the project and everything else --------------------------------------------------------
log "installing vidreg_mm (editable) with runtime and test dependencies"
"${PIP[@]}" install "${CONSTRAINTS[@]}" --no-build-isolation -e "$ROOT[tests]"
mmcv_ok || die "mmcv with ops no longer imports after installing the dependencies"
torch_pair_ok || die "installing the dependencies replaced torch/torchvision; check requirements/constraints.txt"

echo "$FP" > "$STAMP"
log "environment ready in $((SECONDS - T0)) s: $VENV"
