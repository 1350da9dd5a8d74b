#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job: examples/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 examples/demo.py "$@"
