#!/usr/bin/env python3
"""Regenerate the fast lane's settings data and docs.

1. Enumerate the settings keys each pinned LiteLLM accepts (run under each pin's venv) into
   python/fast_litellm/data/litellm_settings_keys.json;
2. render docs/fast-lane-settings.md from python/fast_litellm/fastlane/settings.py.

Usage: python scripts/gen_fast_lane_settings.py [--docs-only]
(pins from FAST_LITELLM_PINS, default "1.83.14 1.110.2"; venvs under FAST_LITELLM_ENV_DIR).
tests/test_fast_lane_settings.py fails when either output is stale.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))


def main() -> int:
    from fast_litellm.fastlane import settings as fs

    if "--docs-only" not in sys.argv:
        env_dir = Path(os.environ.get("FAST_LITELLM_ENV_DIR", Path.home() / ".cache/fast-litellm/envs"))
        out = {}
        for pin in os.environ.get("FAST_LITELLM_PINS", "1.83.14 1.110.2").split():
            env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), LITELLM_LOCAL_MODEL_COST_MAP="True")
            run = subprocess.run([str(env_dir / f"litellm-{pin}" / "bin" / "python"), "-m", "fast_litellm.fastlane.settings",
                                  "--enumerate"], env=env, capture_output=True, text=True, check=True)
            out[pin] = json.loads(run.stdout.strip().splitlines()[-1])
        fs.KEYS_FILE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        fs._KEYS_CACHE.clear()
    (ROOT / "docs" / "fast-lane-settings.md").write_text(fs.render_docs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
