#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the default test suite on 2 workers.
# Slow suites (full ONNX conformance, big models) run with: python3 -m pytest -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m pytest -q -n 2 "$@"
