#!/usr/bin/env bash
# schemathesis against the served OpenAPI document (GET /api/openapi.json), on SQLite and on
# Postgres: zero server errors, zero answers that violate the document. See
# scripts/schemathesis/run.py for what runs; this wrapper installs its pinned requirements into a
# venv of its own beside the SDK tests' (LAYERR_TEST_VENV, default ~/.cache/layerr/venv, plus
# "-schemathesis"), so its dependencies never move the SDK test pins, and expects the binaries
# built (`cargo build --bins -p layerr -p layerr-mock`).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LAYERR_TEST_VENV:-$HOME/.cache/layerr/venv}-schemathesis"
if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REPO_ROOT/scripts/schemathesis/requirements.txt"
exec "$VENV/bin/python" "$REPO_ROOT/scripts/schemathesis/run.py" "$@"
