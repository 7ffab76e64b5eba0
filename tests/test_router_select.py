"""The Router's simple-shuffle selection from the Rust index (component ``router``, issue 20).

* The index against the installed LiteLLM's own ``simple_shuffle`` (both pins: 1.83.x normalises
  by the total and lets the first deployment choose the key, 1.110.x by the largest weight): the
  same deployment for the same ``random`` state on generated groups, and a chi-squared
  homogeneity test of 100,000 picks of each side from independent seeds.
* The Router patch (1.83.x; skipped with its reason on 1.110.x, whose Router is LiteLLM's own Rust
  core): ``async_get_available_deployment`` returns the very deployments stock returns for the
  same seed, with deployments in cooldown, after model-list writes, and hands every
  configuration it does not reproduce to stock.

Large corpora: ``FAST_LITELLM_ROUTER_CORPUS=full`` runs more groups and picks.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import math
import os
import random

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
from litellm.router_strategy import simple_shuffle as stock_module  # noqa: E402

import fast_litellm  # noqa: E402
from fast_litellm.components import router as R  # noqa: E402
from fast_litellm.registry import version_in  # noqa: E402

FULL = os.environ.get("FAST_LITELLM_ROUTER_CORPUS") == "full"
VERSION = importlib.metadata.version("litellm")
BY_MAX = not version_in(VERSION, "<1.100")  # 1.110.x's simple_shuffle
PATCHED = version_in(VERSION, R.SUPPORTS)


def _stock_pick(deployments: list, model: str = "g"):
    if BY_MAX:
        return stock_module.simple_shuffle(lambda m: None, deployments, model, None)

    class _Router:
        @staticmethod
        def print_deployment(d):
            return d

    return stock_module.simple_shuffle(llm_router_instance=_Router(), healthy_deployments=deployments, model=model)


def _index(deployments: list):
    kinds, nums = [], []
    for d in deployments:
        for key in R._WEIGHT_KEYS:
            k, n = R._weight_kind(d["litellm_params"], key, BY_MAX)
            kinds.append(k)
            nums.append(n)
    return R._index_class()(kinds, nums, BY_MAX)


def _fast_pick(index, deployments: list, excluded=()):
    healthy = [d for i, d in enumerate(deployments) if i not in set(excluded)]
    mode = index.pick(0.0, list(excluded))
    assert mode != -2
    if mode == -1:
        return random.choice(healthy)
    return deployments[index.pick(random.random(), list(excluded))]


def _group(rng: random.Random, n: int, shape: str) -> list:
    """Generated deployments: weights as ints, floats, absent, None-free, per shape."""
    out = []
    for i in range(n):
        params = {"model": "openai/gpt-4o-mini", "api_key": f"sk-{i}"}
        if shape == "weight-int":
            params["weight"] = rng.randint(1, 9)
        elif shape == "weight-float":
            params["weight"] = round(rng.uniform(0.1, 5.0), rng.randint(1, 6))
        elif shape == "rpm":
            params["rpm"] = rng.choice([10, 60, 100, 1000, 7])
        elif shape == "tpm-some-missing":
            if i % 3:
                params["tpm"] = rng.randint(1000, 100000)
        elif shape == "rpm-and-tpm":
            params["rpm"] = rng.randint(1, 50)
            params["tpm"] = rng.randint(1, 50)
        elif shape == "first-missing":
            if i:
                params["weight"] = rng.randint(1, 4)
        # "none": no weights at all (random.choice)
        out.append({"model_name": "g", "litellm_params": params, "model_info": {"id": f"d{i}"}})
    return out


SHAPES = ["weight-int", "weight-float", "rpm", "tpm-some-missing", "rpm-and-tpm", "first-missing", "none"]


@pytest.mark.parametrize("shape", SHAPES)
def test_index_picks_the_deployment_stock_picks_for_the_same_draws(shape):
    rng = random.Random(hash(shape) & 0xFFFF)
    sizes = [1, 2, 7, 50, 300] + ([1000, 2500] if FULL else [])
    for n in sizes:
        deps = _group(rng, n, shape)
        index = _index(deps)
        picks = 400 if FULL else 120
        for excluded in ([], sorted(rng.sample(range(n), n // 3)) if n > 2 else []):
            healthy = [d for i, d in enumerate(deps) if i not in set(excluded)]
            random.seed(n * 7919 + len(excluded))
            stock = [_stock_pick(healthy)["model_info"]["id"] for _ in range(picks)]
            random.seed(n * 7919 + len(excluded))
            fast = [_fast_pick(index, deps, excluded)["model_info"]["id"] for _ in range(picks)]
            assert fast == stock, (shape, n, excluded)


def _chi2_critical(df: int, z: float = 3.09) -> float:
    """Upper critical value of chi-squared (p ~ 0.001, z = 3.09) by Wilson-Hilferty."""
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * math.sqrt(a)) ** 3


CHI2_SHAPES = ["weight-int", "weight-float", "tpm-some-missing", "none"] if FULL else ["weight-float", "none"]


@pytest.mark.parametrize("shape", CHI2_SHAPES)
def test_distribution_chi_squared_against_stock(shape):
    """Independent seeds: 100,000 picks of the index against stock's own function (100,000 picks
    with FAST_LITELLM_ROUTER_CORPUS=full, 20,000 in CI: stock's pick formats its weights into a
    debug message each time); the two samples are homogeneous (p = 0.001)."""
    deps = _group(random.Random(7), 24, shape)
    index = _index(deps)
    pos = {d["model_info"]["id"]: i for i, d in enumerate(deps)}
    n_stock, n_fast = (100_000 if FULL else 20_000), 100_000
    random.seed(1)
    stock = [0] * len(deps)
    for _ in range(n_stock):
        stock[pos[_stock_pick(deps)["model_info"]["id"]]] += 1
    random.seed(2)
    fast = [0] * len(deps)
    for _ in range(n_fast):
        fast[pos[_fast_pick(index, deps)["model_info"]["id"]]] += 1
    cells = [(s, f) for s, f in zip(stock, fast) if s + f > 0]
    # Two-sample homogeneity statistic for unequal sample sizes.
    k1, k2 = math.sqrt(n_fast / n_stock), math.sqrt(n_stock / n_fast)
    chi2 = sum((k1 * s - k2 * f) ** 2 / (s + f) for s, f in cells)
    df = len(cells) - 1
    print(f"\n{shape}: chi2 {chi2:.1f}, df {df}, critical(p=0.001) {_chi2_critical(df):.1f}")
    assert chi2 < _chi2_critical(df)


def test_raising_weights_are_left_to_stock():
    deps = _group(random.Random(3), 4, "weight-int")
    deps[2]["litellm_params"]["weight"] = "heavy"
    with pytest.raises(Exception):
        _stock_pick(deps)
    assert _index(deps).pick(0.5) == -2
    zero = _group(random.Random(3), 3, "weight-int")
    for d in zero:
        d["litellm_params"]["weight"] = 0
    assert _index(zero).pick(0.5) == (-1 if BY_MAX else -2)  # 1.110: next key, then uniform


# -- the Router patch -----------------------------------------------------------------------


def _model_list(n: int, shape: str = "none", seed: int = 0) -> list:
    deps = _group(random.Random(seed), n, shape)
    for d in deps:
        d["litellm_params"]["api_base"] = "http://127.0.0.1:9/v1"
    return deps


def _picks(router, count: int, seed: int, model: str = "g", **request) -> list:
    async def run():
        out = []
        for _ in range(count):
            d = await router.async_get_available_deployment(model=model, request_kwargs=dict(request),
                                                            messages=[{"role": "user", "content": "hi"}])
            out.append(d["model_info"]["id"])
        return out

    random.seed(seed)
    return asyncio.run(run())


def _both(make, count=60, seed=11, before=None, model="g", **request):
    """(stock ids, fast ids, fast calls served, delegated) for routers built by ``make``."""
    from litellm import Router

    patch = next(p for p in R.PATCHES if p.name == "router.simple_shuffle")
    fast_litellm.deactivate()
    try:
        router = Router(**make())
        if before:
            before(router)
        stock = _picks(router, count, seed, model=model, **request)
    finally:
        fast_litellm.activate()
    fast_litellm.status()
    router = Router(**make())
    if before:
        before(router)
    calls, delegated = patch.calls, patch.delegated
    fast = _picks(router, count, seed, model=model, **request)
    return stock, fast, patch.calls - calls, patch.delegated - delegated, router


pytestmark_patched = pytest.mark.skipif(not PATCHED, reason=f"router patches support {R.SUPPORTS}")


def test_router_patches_state_per_pin():
    fast_litellm.activate()
    st = {p["name"]: p for p in fast_litellm.status()["patches"] if p["component"] == "router"}
    assert set(st) == {p.name for p in R.PATCHES}
    for p in st.values():
        if PATCHED:
            assert p["state"] == "applied", p
        else:
            assert p["state"] == "skipped" and "outside the supported range" in p["reason"], p


@pytestmark_patched
@pytest.mark.parametrize("shape", ["none", "weight-int", "rpm", "first-missing"])
def test_router_picks_match_stock(shape):
    n = 300 if FULL else 40
    stock, fast, served, delegated, _ = _both(lambda: {"model_list": _model_list(n, shape)})
    assert fast == stock
    assert served == len(stock) and delegated == 0


@pytestmark_patched
def test_router_cooldowns_match_stock():
    def cool(router):
        for i in (0, 3, 4, 17):
            router.cooldown_cache.add_deployment_to_cooldown(
                model_id=f"d{i}", original_exception=Exception("x"), exception_status=429, cooldown_time=600)

    for shape in ("none", "weight-int", "first-missing"):
        stock, fast, served, delegated, router = _both(lambda: {"model_list": _model_list(30, shape)}, before=cool)
        assert fast == stock and delegated == 0, shape
        assert not {"d0", "d3", "d4", "d17"} & set(fast)
        # An entry that has gone (expired, evicted) is no longer excluded, as in stock.
        router.cooldown_cache.cache.in_memory_cache.delete_cache("deployment:d3:cooldown")
        random.seed(5)
        again = _picks(router, 200, 5)
        assert "d3" in again and not {"d0", "d4", "d17"} & set(again)


@pytestmark_patched
def test_router_sees_model_list_writes():
    from litellm.types.router import Deployment

    def edit(router):
        router.delete_deployment(id="d2")
        router.add_deployment(Deployment(model_name="g", litellm_params={"model": "openai/x", "api_key": "k", "weight": 50,
                                                                          "api_base": "http://127.0.0.1:9/v1"},
                                         model_info={"id": "new"}))

    # The fast side builds its group first, then the writes must show.
    def warm_then_edit(router):
        _picks(router, 3, 0)
        edit(router)

    stock, fast, _, delegated, router = _both(lambda: {"model_list": _model_list(12, "weight-int")},
                                              before=warm_then_edit, count=200)
    assert fast == stock and delegated == 0
    assert "new" in fast and "d2" not in fast
    assert [d["model_info"]["id"] for d in router._get_all_deployments("g")] == \
        [d["model_info"]["id"] for d in router.model_list if d["model_name"] == "g"]
    router.set_model_list(_model_list(3))
    assert set(_picks(router, 60, 1)) == {"d0", "d1", "d2"}


@pytestmark_patched
@pytest.mark.parametrize("case", ["order", "team-deployment", "team-request", "strategy", "alias", "tags",
                                  "pre-call-checks", "id", "web-search"])
def test_router_hands_other_configurations_to_stock(case):
    request = {}
    model = "g"

    def make():
        ml = _model_list(10, "weight-int")
        kw = {"model_list": ml}
        if case == "order":
            ml[0]["litellm_params"]["order"] = 1
        elif case == "team-deployment":
            ml[1]["model_info"]["team_id"] = "t1"
        elif case == "strategy":
            kw["routing_strategy"] = "least-busy"
        elif case == "alias":
            kw["model_group_alias"] = {"alias": "g"}
        elif case == "tags":
            kw["enable_tag_filtering"] = True
        elif case == "pre-call-checks":
            kw["enable_pre_call_checks"] = True
        return kw

    if case == "team-request":
        request = {"metadata": {"user_api_key_team_id": "t9"}}
    if case == "web-search":
        request = {"tools": [{"type": "web_search"}]}
    model = {"alias": "alias", "id": "d3"}.get(case, "g")
    stock, fast, served, delegated, _ = _both(make, count=30, model=model, **request)
    assert fast == stock
    assert delegated == served == 30


@pytestmark_patched
def test_router_group_deployments_match_stock():
    from litellm import Router

    ml = _model_list(25, "rpm")
    ml[3]["model_name"] = "other"
    fast_litellm.activate()
    router = Router(model_list=ml)
    patch = next(p for p in R.PATCHES if p.name == "router.group_deployments")
    for name in ("g", "other", "missing"):
        got = router._get_all_deployments(model_name=name)
        want = patch.original(router, model_name=name)
        assert [id(d) for d in got] == [id(d) for d in want], name
    got = router._get_all_deployments(model_name="g")
    got.append("mutating the returned list must not touch the cache")
    assert len(router._get_all_deployments(model_name="g")) == 24


# Earlier files leave loggers in LiteLLM's callback lists (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_callbacks")
