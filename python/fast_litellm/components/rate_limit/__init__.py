"""Rate limiting: the proxy's limiters on Rust tables, one module per limiter.

Call paths (both pinned versions, no Redis)
-------------------------------------------
``ProxyLogging.__init__`` (``litellm/proxy/utils.py``) builds
``internal_usage_cache = InternalUsageCache(DualCache(default_in_memory_ttl=1))`` and
``max_parallel_request_limiter = _PROXY_MaxParallelRequestsHandler(internal_usage_cache)``
("v1", ``litellm/proxy/hooks/parallel_request_limiter.py``). ``_add_proxy_hooks``
registers ``PROXY_HOOKS["parallel_request_limiter"]`` with the same cache: that is
``_PROXY_MaxParallelRequestsHandler_v3`` on both versions unless
``LEGACY_MULTI_INSTANCE_RATE_LIMITING=true`` (then v1). So the proxy runs v3 by
default; v1 is what ``ProxyLogging.max_parallel_request_limiter`` is, what the
legacy switch selects, and what issue 5's harness drives. Both are accelerated
on 1.83.x (``rate_limit.v3_limiter``, ``rate_limit.v1_limiter``); on 1.110.x
only v1 is (see "v3 on 1.110.x" below).

Modules (one per limiter and its LiteLLM-version adapters; none imports this package's
``__init__``, so there is no import cycle):

* :mod:`.v1` -- the v1 limiter (``rate_limit.v1_limiter``, on with the legacy switch);
* :mod:`.v3_183` -- the v3 limiter of LiteLLM 1.83.x (``rate_limit.v3_limiter``);
* :mod:`.v3_110` -- the v3 limiter of LiteLLM 1.110.x (``rate_limit.v3_110_*``);
* :mod:`.usage_cache` -- the limiters' counter cache (``rate_limit.internal_usage_cache``, off);
* :mod:`.common` -- what they share (shared-table switches, the accelerating ``__init__``);
* :mod:`.bench_hooks` -- the bench harnesses (pre-call checks through LiteLLM's hooks).

Missing: v1's per-model-limit, global-limit and throttled requests still run the Python
transcription (one native ``admit``); Redis is delegated to LiteLLM's own code.
"""

from __future__ import annotations

from . import usage_cache, v1, v3_110, v3_183
from .common import COMPONENT

__all__ = ["BENCHMARKS", "COMPONENT", "PATCHES"]

# The order doctor and status() list them in (unchanged from the one-module layout).
PATCHES = [v1.PATCH, v3_183.PATCH, usage_cache.PATCH] + v3_110.PATCHES
BENCHMARKS = [v1.BENCHMARK, v3_183.BENCHMARK] + v3_110.BENCHMARKS
