#!/usr/bin/env bash
# One command: set up a virtualenv with LiteLLM's proxy, build and install
# Fast LiteLLM from this checkout, and start the accelerated proxy on the built-in
# default config (no network, no provider keys): model gpt-4o-mini is served by the Rust fast
# lane from a built-in local mock upstream, gpt-4o by LiteLLM (its mock_response).
#   bash scripts/quickstart.sh                 # http://localhost:4000
#   bash scripts/quickstart.sh --port 8080     # any `litellm` proxy argument
set -euo pipefail
cd "$(dirname "$0")/.."
version="${FAST_LITELLM_LITELLM_VERSION:-1.110.2}"
env_root="${FAST_LITELLM_ENV_DIR:-$HOME/.cache/fast-litellm/envs}"
FAST_LITELLM_PINS="$version" bash scripts/setup-envs.sh
venv="$env_root/litellm-$version"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fast-litellm/target}"
wheels="$CARGO_TARGET_DIR/quickstart-wheels"
rm -rf "$wheels"
"$venv/bin/maturin" build --release --quiet -o "$wheels"
"$venv/bin/pip" install -q --no-deps --force-reinstall "$wheels"/fast_litellm-*.whl
export PATH="$venv/bin:$PATH"
export LITELLM_LOCAL_MODEL_COST_MAP="${LITELLM_LOCAL_MODEL_COST_MAP:-True}"   # no network: bundled price map
fast-litellm doctor
# The CLI lives in the virtualenv, not on the caller's PATH: say where.
echo "fast-litellm is installed in $venv/bin (export PATH=\"$venv/bin:\$PATH\" to use it in a shell)"
exec fast-litellm proxy "$@"
