#!/usr/bin/env bash
# The main job on embedded defaults: install, import the shipped sample bundle,
# materialize the whole graph, and say where to look next.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/quant-assets demo "$@"
