#!/usr/bin/env bash
# Create (or reuse) one virtualenv per pinned LiteLLM version, with the proxy's
# imports and the test tools. Reused across runs on the same machine: a venv is
# rebuilt only when its requirement files change.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
env_root="${FAST_LITELLM_ENV_DIR:-$HOME/.cache/fast-litellm/envs}"
versions="${FAST_LITELLM_PINS:-1.83.14 1.110.2}"
python="${PYTHON:-python3}"
mkdir -p "$env_root"
for v in $versions; do
  venv="$env_root/litellm-$v"
  reqs=(-r "$here/scripts/requirements-test.txt")
  series="${v%.*}"   # 1.110.2 -> 1.110
  if [ -f "$here/scripts/requirements-litellm-$series.txt" ]; then
    reqs+=(-r "$here/scripts/requirements-litellm-$series.txt")
  fi
  stamp="$(cat "$here"/scripts/requirements-*.txt | sha256sum | cut -c1-16)-$v"
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then
    echo "setup-envs: reusing $venv"
    continue
  fi
  echo "setup-envs: creating $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "litellm==$v" "${reqs[@]}"
  echo "$stamp" > "$venv/.stamp"
done
