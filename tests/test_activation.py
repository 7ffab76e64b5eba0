"""Activation in fresh interpreters: import order, FAST_LITELLM_DISABLE, status parity."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_py(code: str, **env_extra) -> dict:
    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _states(status):
    return [(p["name"], p["state"], p["reason"], sorted(p["targets"])) for p in status["patches"]]


STATUS = "import json, fast_litellm; print(json.dumps(fast_litellm.status()))"


def test_status_same_whichever_is_imported_first():
    a = run_py("import fast_litellm, litellm\n" + STATUS)
    b = run_py("import litellm, fast_litellm\n" + STATUS)
    assert _states(a) == _states(b)
    assert a["active"] and b["active"]


PROBE_FIRST = """
import fast_litellm
from fast_litellm import registry
from probe_patch import make_probe_patch
registry.deactivate(); registry._patches = [make_probe_patch()]; registry.activate()
import litellm
import litellm.proxy.proxy_server  # imported later still gets the wrapper
""" + STATUS

PROBE_AFTER = """
import litellm
import litellm.proxy.proxy_server
import fast_litellm
from fast_litellm import registry
from probe_patch import make_probe_patch
registry.deactivate(); registry._patches = [make_probe_patch()]; registry.activate()
""" + STATUS


def test_probe_reaches_the_same_places_in_either_order():
    a = run_py(PROBE_FIRST)
    b = run_py(PROBE_AFTER)
    assert a["patches"][0]["state"] == "applied"
    assert _states(a) == _states(b)


def test_disable_leaves_litellm_untouched():
    code = """
    import json, sys
    import litellm
    before = {n: dict(vars(m)) for n, m in list(sys.modules.items())
              if m is not None and (n == 'litellm' or n.startswith('litellm.'))}
    import fast_litellm
    changed = [n for n, d in before.items()
               if any(vars(sys.modules[n]).get(k) is not v for k, v in d.items())]
    st = fast_litellm.status()
    print(json.dumps({"changed": changed, "applied": [p for p in st["patches"] if p["state"] == "applied"],
                      "active": st["active"]}))
    """
    out = run_py(code, FAST_LITELLM_DISABLE="1")
    assert out["applied"] == [] and out["changed"] == [] and out["active"] is False


def test_import_fast_litellm_does_not_import_litellm():
    # Cheap to import; LiteLLM is patched when (and if) it is imported.
    out = run_py("import sys, json, fast_litellm; print(json.dumps('litellm' in sys.modules))")
    assert out is False


def test_import_does_not_load_the_native_module():
    """`import fast_litellm` (after `import litellm`) defers the extension to first use and
    builds no report; the first accelerated call loads it and is served natively."""
    code = """
    import json, sys
    import litellm, fast_litellm
    loaded_at_import = "fast_litellm._native" in sys.modules
    n = litellm.token_counter(model="gpt-4o", text="hello world")
    st = fast_litellm.status()
    calls = sum(p["calls"] for p in st["patches"] if p["component"] == "token_counting")
    print(json.dumps({"at_import": loaded_at_import, "after": "fast_litellm._native" in sys.modules,
                      "calls": calls, "n": n, "native": st["versions"]["native"]}))
    """
    out = run_py(code)
    assert out["at_import"] is False
    assert out["native"] and out["after"] is True
    assert out["calls"] >= 1 and out["n"] > 0
