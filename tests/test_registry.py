"""The patch machinery: activation, every place, symmetric deactivate, fallback, shadow."""

import importlib
import logging
import sys

import pytest

import fast_litellm
from fast_litellm import registry
from fast_litellm._patching import _SHADOW

from probe_patch import TARGET_MODULE, Behaviour, make_probe_patch


@pytest.fixture
def probe():
    """Swap the registry's patch list for the probe patch, restore afterwards."""
    import litellm  # noqa: F401

    registry.deactivate()
    saved = registry._patches
    patch = make_probe_patch()
    registry._patches = [patch]
    Behaviour.mode = "same"
    registry.activate()
    try:
        yield patch
    finally:
        Behaviour.mode = "same"
        _SHADOW[0] = False
        registry.deactivate()
        registry._patches = saved
        registry.activate()


def _holders(obj):
    """Every (module, attr) under litellm whose global is ``obj``."""
    out = []
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name == "litellm" or name.startswith("litellm.")):
            continue
        for attr, value in list(getattr(mod, "__dict__", {}).items()):
            if value is obj:
                out.append((name, attr))
    return out


def test_probe_applied_everywhere_and_restored_with_identity(probe):
    assert probe.state == "applied", probe.reason
    original, wrapper = probe.original, probe.wrapper
    assert wrapper.__wrapped__ is original
    assert _holders(original) == []  # no module keeps the stock object
    places = _holders(wrapper)
    assert len(places) >= 5, places  # defining module + from-imports
    assert (TARGET_MODULE, "get_llm_provider") in places
    import litellm

    assert litellm.get_llm_provider is wrapper
    registry.deactivate()
    for module, attr in places:
        assert getattr(sys.modules[module], attr) is original, (module, attr)
    assert _holders(wrapper) == []
    assert probe.state == "skipped"


def test_status_shape(probe):
    st = fast_litellm.status()
    assert set(st) >= {"patches", "versions"}
    assert set(st["versions"]) >= {"fast_litellm", "native", "litellm", "python"}
    (p,) = st["patches"]
    for key in ("name", "state", "reason", "targets", "calls", "fallbacks", "mismatches"):
        assert key in p
    assert p["state"] == "applied" and p["reason"] == ""
    assert len(p["targets"]) >= 5


def test_calls_are_counted_and_results_unchanged(probe):
    import litellm

    out = litellm.get_llm_provider("openai/gpt-4o")
    assert out == probe.original("openai/gpt-4o")
    assert probe.calls >= 1 and probe.fallbacks == 0


@pytest.mark.parametrize("mode", ["raise", "panic"])
def test_failure_falls_back_to_litellm(probe, mode, caplog):
    import litellm

    expected = probe.original("anthropic/claude-3-5-sonnet-20240620")
    Behaviour.mode = mode
    with caplog.at_level(logging.WARNING, logger="fast_litellm"):
        first = litellm.get_llm_provider("anthropic/claude-3-5-sonnet-20240620")
        second = litellm.get_llm_provider("anthropic/claude-3-5-sonnet-20240620")
    assert first == expected and second == expected
    assert probe.fallbacks == 2
    warnings = [r for r in caplog.records if "falling back" in r.getMessage()]
    assert len(warnings) == 1  # one warning per patch, not per call


def test_bad_input_raises_litellms_own_exception(probe):
    import litellm

    with pytest.raises(Exception) as stock:
        probe.original(model="definitely-not-a-provider-model-xyz")
    Behaviour.mode = "raise"
    with pytest.raises(type(stock.value)):
        litellm.get_llm_provider(model="definitely-not-a-provider-model-xyz")


def test_not_covered_goes_to_litellm_unchanged(probe):
    import litellm

    Behaviour.mode = "decline"
    assert litellm.get_llm_provider("openai/gpt-4o") == probe.original("openai/gpt-4o")
    assert probe.delegated == 1 and probe.fallbacks == 0


def test_shadow_mode_returns_stock_and_counts_mismatches(probe, caplog):
    import litellm

    _SHADOW[0] = True
    expected = probe.original("openai/gpt-4o")
    assert litellm.get_llm_provider("openai/gpt-4o") == expected
    assert probe.mismatches == 0
    Behaviour.mode = "wrong"
    with caplog.at_level(logging.WARNING, logger="fast_litellm"):
        assert litellm.get_llm_provider("openai/gpt-4o") == expected
        assert litellm.get_llm_provider("openai/gpt-4o") == expected
    assert probe.mismatches == 2
    logged = [r.getMessage() for r in caplog.records if "shadow mismatch" in r.getMessage()]
    assert len(logged) == 1 and "wrong-provider" in logged[0]


def test_modules_imported_after_activation_get_the_wrapper(probe):
    # A litellm module imported (again) after activation must hold the wrapper.
    name = "litellm.litellm_core_utils.get_supported_openai_params"
    saved = sys.modules.pop(name, None)
    try:
        mod = importlib.import_module(name)
        held = [v for v in vars(mod).values() if v is probe.wrapper or v is probe.original]
        if held:
            assert all(v is probe.wrapper for v in held)
    finally:
        if saved is not None:
            sys.modules[name] = saved


def test_activate_is_idempotent(probe):
    before = fast_litellm.status()["patches"][0]["targets"]
    fast_litellm.activate()
    assert fast_litellm.status()["patches"][0]["targets"] == before


def test_component_env_switch_skips(probe, monkeypatch):
    registry.deactivate()
    monkeypatch.setenv("FAST_LITELLM_PROBE", "0")
    registry.activate()
    assert probe.state == "skipped" and "FAST_LITELLM_PROBE=0" in probe.reason


def test_version_outside_range_skips(probe):
    registry.deactivate()
    probe.supports = "<1.0"
    registry.activate()
    assert probe.state == "skipped" and "outside the supported range" in probe.reason


def test_missing_target_is_skipped_not_applied(probe):
    registry.deactivate()
    probe.target = TARGET_MODULE + ":no_such_function_in_litellm"
    registry.activate()
    st = fast_litellm.status()["patches"][0]
    assert st["state"] == "skipped" and "does not exist" in st["reason"]


def test_build_failure_is_failed_with_exception(probe):
    registry.deactivate()

    def broken(original):
        raise ValueError("cannot build")

    probe.build = broken
    probe._built = None
    registry.activate()
    assert probe.state == "failed" and "cannot build" in probe.reason


def test_bench_harness_alternates_and_reports(probe):
    from fast_litellm import bench

    b = bench.Benchmark(
        name="probe get_llm_provider",
        patch=probe.name,
        setup=lambda: (lambda: __import__("litellm").get_llm_provider("openai/gpt-4o")),
        batch_seconds=0.005,
    )
    out = bench.run_one(b, rounds=3, quick=True)
    assert set(out) >= {"stock_us", "accelerated_us", "ratio", "iterations"}
    assert fast_litellm.is_active() and probe.state == "applied"
    report = {"machine": bench.machine(), "versions": fast_litellm.status()["versions"], "results": [out]}
    assert "probe get_llm_provider" in bench.format_table(report)


def test_bench_skips_unapplied_patch(probe):
    from fast_litellm import bench

    out = bench.run_one(bench.Benchmark(name="x", patch="no-such-patch", setup=lambda: (lambda: None)), 1, True)
    assert "skipped" in out


def test_off_by_default_patch_needs_opt_in(probe, monkeypatch):
    registry.deactivate()
    probe.off_by_default = "not a measured win here"
    registry.activate()
    assert probe.state == "skipped" and "FAST_LITELLM_PROBE=1" in probe.reason
    registry.deactivate()
    monkeypatch.setenv("FAST_LITELLM_PROBE", "1")
    registry.activate()
    assert probe.state == "applied"


def test_static_method_target_stays_a_static_method():
    """A patch on a static method is installed as a static method: a call through an instance
    gets no extra argument, and deactivate puts back the very descriptor it found."""
    import litellm  # noqa: F401
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    from fast_litellm._patching import Patch

    name = "_get_ssl_connector_kwargs"
    found = AsyncHTTPHandler.__dict__[name]
    assert isinstance(found, staticmethod)
    seen = []

    def build(original):
        def fast(*args, **kwargs):
            seen.append(args)
            return original(*args, **kwargs)

        return fast

    registry.deactivate()
    saved = registry._patches
    registry._patches = [Patch(name="probe.static", component="probe", target=f"{AsyncHTTPHandler.__module__}:AsyncHTTPHandler.{name}",
                               supports=">=0", build=build, summary="test")]
    try:
        registry.activate()
        installed = AsyncHTTPHandler.__dict__[name]
        assert isinstance(installed, staticmethod) and installed is not found
        handler = AsyncHTTPHandler.__new__(AsyncHTTPHandler)
        assert getattr(handler, name)(ssl_verify=False) == AsyncHTTPHandler.__dict__[name].__func__.__wrapped__(ssl_verify=False)
        assert seen and seen[0] == ()  # no handler passed in
        registry.deactivate()
        assert AsyncHTTPHandler.__dict__[name] is found
    finally:
        registry.deactivate()
        registry._patches = saved
        registry.activate()


def test_missing_optional_package_is_skipped_with_reason_not_failed(probe):
    """A replacement that needs a package that is not installed (LiteLLM needs it for that
    feature too) is ``skipped`` with the reason; a missing module of our own stays ``failed``."""
    registry.deactivate()

    def needs(module_name):
        def build(original):
            importlib.import_module(module_name)
            return original

        return build

    probe.build = needs("fast_litellm_no_such_optional_package")
    probe._built = None
    registry.activate()
    assert probe.state == "skipped", probe.reason
    assert "'fast_litellm_no_such_optional_package'" in probe.reason and "not installed" in probe.reason
    registry.deactivate()
    probe.build = needs("fast_litellm.no_such_module")
    probe._built = None
    registry.activate()
    assert probe.state == "failed"


def test_metrics_patch_skipped_without_prometheus_client():
    """A normal install without ``prometheus_client`` (a proxy without Prometheus): the metrics
    patches are ``skipped`` naming the package, never ``failed``, and nothing is printed at start."""
    import json
    import subprocess

    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"  # unimportable, as if not installed
        "import litellm, fast_litellm, json\n"
        "print(json.dumps({p['name']: [p['state'], p['reason']] for p in fast_litellm.status()['patches']"
        " if p['component'] == 'metrics'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    states = json.loads(out.stdout.strip().splitlines()[-1])
    scrape = states["metrics.tolerant_multiprocess_scrape"]
    if "outside the supported range" in scrape[1]:
        pytest.skip(scrape[1])
    assert scrape[0] == "skipped", scrape
    assert "prometheus_client" in scrape[1] and "not installed" in scrape[1]
    assert all(state != "failed" for state, _ in states.values()), states
    assert "fast_litellm" not in out.stderr, out.stderr  # no warning for a skip


def test_version_ranges_match_packaging():
    """The registry's range check (no `packaging` import at activation) agrees with
    PEP 440 on every patch's range and a generated set of versions."""
    import random

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    rng = random.Random(5)
    ranges = sorted({p.supports for p in registry.patches()} | {">=1.83.7", "==1.110.2", "!=1.100,>1.83", "<=1.100.0"})
    versions = ["1.83.7", "1.83.14", "1.100", "1.100.0", "1.110.2", "1.111", "1.84.0", "2.0", "1.83.7rc1", "1.110.2.post1"]
    versions += [".".join(str(rng.randint(0, 120)) for _ in range(rng.randint(1, 4))) for _ in range(300)]
    for spec in ranges:
        for v in versions:
            assert registry.version_in(v, spec) == (Version(v) in SpecifierSet(spec)), (v, spec)
