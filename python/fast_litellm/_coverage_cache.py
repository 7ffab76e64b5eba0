"""``doctor --coverage`` results kept between runs.

A component's coverage is a pure function of its inputs: the installed LiteLLM (version and price
map), this package (version, its Python sources, the native build) and the sample asked for.
Computing it plans price-map entries against LiteLLM (about 2 s sampled on 1.110.x, a minute in
full), so the result is stored under a key made of all those inputs and read back while none of
them changed. Any change, a different price map included (LiteLLM may fetch a newer one), is a
new key: the table is then computed again. ``--no-cache`` always recomputes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import io
import json
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Optional


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fast-litellm" / "coverage"


@functools.lru_cache(maxsize=1)
def _inputs() -> str:
    """What every component's coverage depends on, hashed once per doctor run (the price map
    and the package sources are read once, not per component)."""
    import litellm

    import fast_litellm

    status = fast_litellm.status()["versions"]
    source = hashlib.sha256()
    package = Path(fast_litellm.__file__).resolve().parent
    for file in sorted(package.rglob("*.py")):  # the component and whatever it plans with
        source.update(file.read_bytes())
    price_map = json.dumps(getattr(litellm, "model_cost", {}), sort_keys=True, default=repr)
    parts = {
        "litellm": getattr(litellm, "__version__", None) or status.get("litellm"),
        "fast_litellm": status.get("fast_litellm"),
        "native": [status.get("native"), status.get("native_build")],
        "source": source.hexdigest(),
        "price_map": hashlib.sha256(price_map.encode()).hexdigest(),
    }
    return json.dumps(parts, sort_keys=True, default=str)


def key(module: ModuleType, kwargs: Dict[str, Any]) -> str:
    """Everything the coverage of ``module`` depends on, hashed."""
    mine = json.dumps({"component": module.__name__, "kwargs": kwargs}, sort_keys=True, default=str)
    return hashlib.sha256((_inputs() + mine).encode()).hexdigest()[:32]


def cached(module: ModuleType, kwargs: Dict[str, Any], compute: Callable[[], Dict[str, Any]],
           fresh: bool = False) -> Dict[str, Any]:
    """``compute()``, or the stored result for the same inputs. A result that failed is not
    stored; a cache that cannot be read or written only costs the computation."""
    path: Optional[Path] = None
    try:
        path = cache_dir() / f"{key(module, kwargs)}.json"
        if not fresh and path.is_file():
            return json.loads(path.read_text())["coverage"]
    except Exception:
        pass
    result = compute()
    if path is not None and isinstance(result, dict) and "error" not in result:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"computed_at": time.time(), "coverage": result}))
            tmp.replace(path)  # atomic: concurrent doctors never read half a file
        except Exception:
            pass
    return result


def collect(sample_every: int, fresh: bool = False) -> Dict[str, Any]:
    """Every component's coverage (``{component: table}``), each read from the cache or computed."""
    from . import registry

    out: Dict[str, Any] = {}
    for module in registry.component_modules():
        if not hasattr(module, "coverage"):
            continue
        kwargs: Dict[str, Any] = {}
        if "sample_every" in inspect.signature(module.coverage).parameters:
            kwargs["sample_every"] = sample_every

        def compute(module: ModuleType = module, kwargs: Dict[str, Any] = kwargs) -> Dict[str, Any]:
            try:
                # LiteLLM prints to stdout on models it cannot place; keep --json clean.
                with contextlib.redirect_stdout(io.StringIO()):
                    return module.coverage(**kwargs)
            except Exception as exc:  # report, never crash doctor
                return {"error": repr(exc)}

        out[module.__name__.rsplit(".", 1)[1]] = cached(module, kwargs, compute, fresh=fresh)
    return out
