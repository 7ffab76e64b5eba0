#!/usr/bin/env bash
# Run pytest from the source tree against one pinned LiteLLM venv (see dev-build.sh).
# Usage: scripts/dev-pytest.sh 1.83.14|1.110.2 [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
v="$1"; shift
venv="${FAST_LITELLM_ENV_DIR:-$HOME/.cache/fast-litellm/envs}/litellm-$v"
export LITELLM_LOCAL_MODEL_COST_MAP=True
export PYTHONPATH="$(pwd)/python${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$venv/bin:$PATH"
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
