"""``doctor --coverage`` results kept between runs.

A component's coverage is a pure function of its inputs: the installed LiteLLM (version and price
map), this package (version, its Python sources, the native build) and the sample asked for.
Computing it plans price-map entries against LiteLLM (about 2 s sampled on 1.110.x, a minute in
full), so the result is stored under a key made of all those inputs and read back while none of
them changed. Any change, a different price map included (LiteLLM may fetch a newer one), is a
new key: the table is then computed again. ``--no-cache`` always recomputes.

On a machine with more than one core, ``doctor`` asks a second process for the table
(:func:`start`) before it imports LiteLLM itself: both imports (~3 s each on 1.110.x) and the
sampled planning then overlap, so a first ``--coverage`` costs about what a plain ``doctor``
does. Whatever goes wrong there, ``doctor`` computes the table in its own process instead.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import io
import json
import os
import subprocess
import sys
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


def cached(module: ModuleType, kwargs: Dict[str, Any], compute: Callable[[], Optional[Dict[str, Any]]],
           fresh: bool = False) -> Optional[Dict[str, Any]]:
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


def collect(sample_every: int, fresh: bool = False, stored_only: bool = False) -> Optional[Dict[str, Any]]:
    """Every component's coverage (``{component: table}``), each read from the cache or computed;
    ``stored_only``: None unless every table is in the cache."""
    from . import registry

    out: Dict[str, Any] = {}
    for module in registry.component_modules():
        if not hasattr(module, "coverage"):
            continue
        kwargs: Dict[str, Any] = {}
        if "sample_every" in inspect.signature(module.coverage).parameters:
            kwargs["sample_every"] = sample_every

        def compute(module: ModuleType = module, kwargs: Dict[str, Any] = kwargs) -> Optional[Dict[str, Any]]:
            if stored_only:
                return None
            try:
                # LiteLLM prints to stdout on models it cannot place; keep --json clean.
                with contextlib.redirect_stdout(io.StringIO()):
                    return module.coverage(**kwargs)
            except Exception as exc:  # report, never crash doctor
                return {"error": repr(exc)}

        table = cached(module, kwargs, compute, fresh=fresh)
        if table is None:
            return None
        out[module.__name__.rsplit(".", 1)[1]] = table
    return out


def start(sample_every: int, fresh: bool) -> Optional["subprocess.Popen[str]"]:
    """:func:`collect` in a second process, started now, or None on a single core (two imports
    of LiteLLM would then only take turns)."""
    if (os.cpu_count() or 1) < 2:
        return None
    try:
        return subprocess.Popen([sys.executable, "-m", __name__, str(sample_every), "1" if fresh else "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None


def result(proc: Optional["subprocess.Popen[str]"], stored: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """The second process's tables, or None when it has none to give; ``stored``: the tables were
    all in the cache after all, and the second process is stopped."""
    if proc is None:
        return stored
    if stored is not None:
        proc.kill()
        proc.wait()
        return stored
    try:
        out, _ = proc.communicate(timeout=600)
        lines = out.strip().splitlines()  # the table is the last line, whatever an import printed
        return json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    except Exception:
        proc.kill()
        return None


if __name__ == "__main__":
    # The same activation as doctor's own process: this package first, then LiteLLM.
    import fast_litellm  # noqa: F401
    import litellm  # noqa: F401

    print(json.dumps(collect(int(sys.argv[1]), fresh=sys.argv[2] == "1")))
