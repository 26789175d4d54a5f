#!/usr/bin/env bash
# factorybench entry point.
#   ./run.sh              set up .venv (once) and run the default profile
#   ./run.sh test [ARGS]  set up and run the test suite (ARGS go to pytest)
#   ./run.sh CMD ...      anything else goes to the factorybench CLI
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
STAMP="$VENV/.factorybench-installed"

pick_python() {
    for py in python3.13 python3.12 python3.11 python3.10 python3; do
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            # Resolve shims (pyenv) to the real interpreter once, here.
            "$py" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    echo "run.sh: no Python >= 3.10 found (tried python3.13 ... python3)" >&2
    exit 2
}

setup() {
    # Reinstall only when pyproject.toml changed since the last install.
    if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ]; then
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$(pick_python)" -m venv "$VENV"
    fi
    echo "run.sh: installing factorybench into .venv" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    # compat mode: a plain path entry, ~50 ms cheaper per interpreter start than
    # the import-hook finder, and every benchmark child is a fresh interpreter.
    local log="$VENV/install.log"
    if ! "$VENV/bin/python" -m pip install -q -e ".[test]" \
            --config-settings editable_mode=compat >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "run.sh: installing into .venv failed; full log: $log" >&2
        exit 1
    fi
    touch "$STAMP"
}

setup
# Bytecode compiled once into the project's cache, none beside the sources:
# every benchmark child is a fresh interpreter that would otherwise compile
# each module it imports again (50-80 ms a child).
export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-$ROOT/.cache/pycache}"
unset PYTHONDONTWRITEBYTECODE
# The Numba on-disk JIT cache lives with the project so a second run reuses it.
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$ROOT/.cache/numba}"

if [ "${1:-}" = "test" ]; then
    shift
    bash scripts/install-system-deps.sh test
    exec "$VENV/bin/python" -m pytest "$@"
fi
if [ $# -eq 0 ]; then
    bash scripts/install-system-deps.sh run
    exec "$VENV/bin/factorybench" run --report
fi
exec "$VENV/bin/factorybench" "$@"
