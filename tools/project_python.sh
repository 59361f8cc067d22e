# Sourced by the launchers: PYTHON is the project's environment (VIDREG_VENV, default .venv)
# unless set; the first python on the PATH may lack the stack. Also sets ROOT (the checkout).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV=${VIDREG_VENV:-$ROOT/.venv}
if [ -z "$PYTHON" ]; then
    if [ -x "$VENV/bin/python" ]; then PYTHON="$VENV/bin/python"; else PYTHON=python; fi
fi
