"""The shipped table of where LiteLLM holds each patched function (``_holders``): it lists
exactly what an identity search finds on this pin, activation through it installs the wrappers
in the same places as the full search, and a stale entry falls back to the full search."""

import sys

import pytest

from fast_litellm import _holders, registry

from probe_patch import make_probe_patch
from test_activation import _states, run_py

PROXY = "import litellm, litellm.proxy.proxy_server\n"


def test_table_lists_what_an_identity_search_finds_and_installs_the_same():
    """With nothing patched, every function a supported patch targets is held, outside its own
    module, exactly at the table's places (those in the modules the proxy loads); activation
    through the table then installs the wrappers where the full search does."""
    code = PROXY + """
import json, os, sys
from fast_litellm import _holders, _hooks, registry
modules = _hooks.loaded_litellm_modules()
version = registry.litellm_version()
table = _holders.table_for(version)
out = {"version": version, "table": table is not None, "patches": {}}
for patch in registry.patches():
    module = sys.modules.get(patch.target_module)
    if not registry.version_in(version, patch.supports) or module is None:
        continue
    try:
        original = patch.lookup(module)[2]
    except (AttributeError, KeyError):
        continue
    original = original.__func__ if isinstance(original, staticmethod) else original
    found = _holders.holders_of(original, patch.target_module, modules)
    listed = [list(p) for p in (table or {}).get(patch.name, ()) if p[0] in sys.modules]
    out["patches"][patch.name] = {"found": [list(p) for p in found], "listed": sorted(listed)}
del os.environ["FAST_LITELLM_DISABLE"]
registry.activate()
out["by_table"] = registry.status(resolve=False)
registry.deactivate()
_holders.table_for = lambda v: None
registry.activate()
out["full"] = registry.status(resolve=False)
print(json.dumps(out))
"""
    out = run_py(code, FAST_LITELLM_DISABLE="1")
    assert out["table"], f"no holders table for litellm {out['version']}: run scripts/make-holders-table.py"
    assert out["patches"]
    for name, seen in out["patches"].items():
        assert seen["found"] == seen["listed"], name
    assert any(seen["found"] for seen in out["patches"].values())  # token_counter is from-imported widely
    assert _states(out["by_table"]) == _states(out["full"])
    assert any(len(p["targets"]) > 3 for p in out["by_table"]["patches"] if p["state"] == "applied")


@pytest.fixture
def probe_with_table(monkeypatch):
    """The probe patch (absent from the shipped table) activated with a table entry of our making."""
    import litellm  # noqa: F401

    registry.deactivate()
    saved = registry._patches
    patch = make_probe_patch()
    registry._patches = [patch]
    entries = {}
    monkeypatch.setattr(_holders, "table_for", lambda version: entries)
    try:
        yield patch, entries
    finally:
        registry.deactivate()
        registry._patches = saved
        monkeypatch.undo()
        registry.activate()


def _places(patch):
    return sorted(patch.places())


def test_probe_through_a_correct_table_entry(probe_with_table):
    patch, entries = probe_with_table
    registry.activate()
    assert patch.state == "applied"
    everywhere = _places(patch)  # no entry: the full search
    assert len(everywhere) >= 5
    registry.deactivate()
    original = patch.original
    entries[patch.name] = tuple(_holders.holders_of(original, patch.target_module, registry._hooks.loaded_litellm_modules()))
    assert patch.name in entries and entries[patch.name]
    registry.activate()
    assert _places(patch) == everywhere


def test_stale_table_entry_falls_back_to_the_full_search(probe_with_table):
    patch, entries = probe_with_table
    registry.activate()
    everywhere = _places(patch)
    registry.deactivate()
    # A place the installed LiteLLM does not have: the entry is not trusted.
    entries[patch.name] = (("litellm.main", "no_such_global_here"),)
    registry.activate()
    assert _places(patch) == everywhere
