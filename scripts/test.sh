#!/usr/bin/env bash
# The whole test suite: `cargo test` for the Rust core, then the Python suite in
# one virtualenv per pinned LiteLLM version (created on first use, reused after).
# Usage: scripts/test.sh [extra pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export LITELLM_LOCAL_MODEL_COST_MAP=True   # no network: use LiteLLM's bundled price map
env_root="${FAST_LITELLM_ENV_DIR:-$HOME/.cache/fast-litellm/envs}"
versions="${FAST_LITELLM_PINS:-1.83.14 1.110.2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fast-litellm/target}"   # cached between runs

echo "== cargo test (the Rust crates without PyO3: core, fastlane)"
cargo test -p fast-litellm-core -p fast-litellm-fastlane --release 2>&1 | tail -n 60

echo "== system packages"
bash scripts/install-system-deps.sh

echo "== virtualenvs"
bash scripts/setup-envs.sh
first="$env_root/litellm-${versions%% *}"

echo "== building the wheel (abi3: one wheel for every venv)"
rm -rf dist
"$first/bin/maturin" build --release --quiet -o dist 2>&1 | tail -n 5
wheel="$(ls dist/fast_litellm-*.whl | head -n 1)"

status=0
summary=""
for v in $versions; do
  venv="$env_root/litellm-$v"
  echo "== litellm $v: installing $wheel"
  "$venv/bin/pip" install -q --no-deps --force-reinstall "$wheel"
  echo "== litellm $v: pytest"
  set +e
  (cd "$root" && PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest tests -q -p no:cacheprovider --durations=30 "$@")
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then status=1; fi
  summary="$summary\n  litellm $v: pytest exit $rc"
done
echo -e "== summary$summary"
exit $status
