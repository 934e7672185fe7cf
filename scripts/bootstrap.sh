#!/usr/bin/env bash
# Creates .venv and installs riskstream with its dev tools; a no-op when pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "riskstream needs Python 3.11+ ($PY is $("$PY" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
stamp=.venv/.installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "==> setting up .venv (Python packages for riskstream)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip uv
.venv/bin/uv pip install -q -p .venv/bin/python -e '.[dev]'
# Bytecode now, once: with PYTHONDONTWRITEBYTECODE set, every worker start would recompile Faust.
.venv/bin/python -m compileall -q -j 0 .venv/lib > /dev/null 2>&1 || true
echo "$want" > "$stamp"
echo "==> .venv ready"
