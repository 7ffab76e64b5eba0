#!/usr/bin/env bash
# Developer loop: build the extension module in place (python/fast_litellm/_native.abi3.so)
# so tests can run from the source tree without installing a wheel:
#   scripts/dev-build.sh && scripts/dev-pytest.sh 1.110.2 tests/test_x.py -q
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
cargo build --release -p fast-litellm-python
cp "$CARGO_TARGET_DIR/release/lib_native.so" python/fast_litellm/_native.abi3.so
echo "built python/fast_litellm/_native.abi3.so"
