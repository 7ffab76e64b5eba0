"""The one list of Fast LiteLLM's patches, and activation over it.

Each accelerated LiteLLM component is one module in ``fast_litellm.components``
exposing ``PATCHES`` (and optionally ``BENCHMARKS``); :data:`COMPONENTS` names
them. Activation decides each patch's state once:

* ``skipped``  - disabled by environment, LiteLLM version outside the patch's
  range, its runtime precondition (``Patch.requires``) not met, the native module
  missing, or the target not present in this LiteLLM;
* ``failed``   - building the replacement raised (the exception is the reason); an
  optional package that is not installed (``ModuleNotFoundError`` for a module outside
  LiteLLM and Fast LiteLLM) makes it ``skipped`` with that reason instead;
* ``applied``  - swapped in, in every ``litellm`` module that holds it.

A supported patch whose module LiteLLM has not imported yet is ``pending`` until
that import happens (``status()`` resolves it by importing the module).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import operator
import platform
import sys
import threading
from types import ModuleType
from typing import Any, Dict, List, Optional

from . import _holders, _hooks
from ._patching import (
    APPLIED,
    FAILED,
    PENDING,
    SKIPPED,
    _SHADOW,
    Patch,
    env_flag,
    missing_dependency,
    shadow_enabled,
)

#: Component modules, in the order they are applied. Each holds ``PATCHES``.
COMPONENTS = ("token_counting", "cost", "rate_limit", "transport", "metrics", "copilot_initiator", "router", "callback_drain")

_lock = threading.RLock()
_patches: Optional[List[Patch]] = None
_active = False
_native_error: Optional[str] = None


_litellm_version: List[Optional[str]] = []


def litellm_version() -> Optional[str]:
    # Looked up once: reading the distribution metadata walks sys.path (a few ms at every call).
    if not _litellm_version:
        # An imported LiteLLM has read its own distribution's version already (litellm/_version.py:
        # ``_legacy_version`` on 1.110.x, ``version`` on 1.83.x); reading the metadata again costs ms.
        read = sys.modules.get("litellm._version")
        known = getattr(read, "_legacy_version", getattr(read, "version", None)) if read is not None else None
        if isinstance(known, str) and known != "unknown":
            _litellm_version.append(known)
            return known
        try:
            _litellm_version.append(importlib.metadata.version("litellm"))
        except importlib.metadata.PackageNotFoundError:
            _litellm_version.append(None)
    return _litellm_version[0]


def native_available() -> Optional[str]:
    """``None`` when the extension module is there, else why not, without loading it.

    Activation only needs to know it can be loaded: the components import it at first use,
    so ``import fast_litellm`` does not pay for mapping the library (~3 MB RSS)."""
    if "fast_litellm._native" in sys.modules or _native_error is not None:
        return None if _native_error is None else _native_error
    import importlib.util

    try:
        spec = importlib.util.find_spec(f"{__package__}._native")
    except Exception as exc:
        return repr(exc)
    return None if spec is not None else "ModuleNotFoundError(\"No module named 'fast_litellm._native'\")"


def import_native() -> ModuleType:
    """Import the extension module (raises as the import does).

    Its allocator (mimalloc) commits its first arena eagerly by default, ~4 MB of RSS before
    anything is allocated; committing on demand instead costs nothing measurable here. The
    option is read from the environment when the library is loaded, so it is set for that
    moment only (a user's own ``MIMALLOC_ARENA_EAGER_COMMIT`` wins)."""
    name = f"{__package__}._native"
    if name in sys.modules:
        return sys.modules[name]
    import os

    added = "MIMALLOC_ARENA_EAGER_COMMIT" not in os.environ
    if added:
        os.environ["MIMALLOC_ARENA_EAGER_COMMIT"] = "0"
    try:
        return importlib.import_module(name)
    finally:
        if added:
            os.environ.pop("MIMALLOC_ARENA_EAGER_COMMIT", None)


def load_native() -> Optional[ModuleType]:
    """The extension module, or ``None`` (the error is kept for ``doctor``)."""
    global _native_error
    try:
        return import_native()
    except Exception as exc:  # ImportError, or a broken build
        _native_error = repr(exc)
        return None


def component_modules() -> List[ModuleType]:
    return [importlib.import_module(f"{__package__}.components.{name}") for name in COMPONENTS]


def patches() -> List[Patch]:
    global _patches
    with _lock:
        if _patches is None:
            _patches = [p for module in component_modules() for p in module.PATCHES]
        return _patches


_COMPARE = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
            ">": operator.gt}


def _release(text: str) -> Optional[tuple]:
    """``1.83.14`` as a comparable tuple (PEP 440 pads with zeros: 1.100 == 1.100.0), else ``None``.
    String tests, not a regex: compiling patterns at import is a measurable share of its cost."""
    parts = text.strip().split(".")
    if not all(p.isdecimal() for p in parts):
        return None
    numbers = [int(p) for p in parts]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def _clause(text: str) -> Optional[tuple]:
    text = text.strip()
    for op in (">=", "<=", "==", "!=", "<", ">"):  # two-character operators first
        if text.startswith(op):
            bound = _release(text[len(op):])
            return None if bound is None else (_COMPARE[op], bound)
    return None


def version_in(version: str, supports: str) -> bool:
    """``version in SpecifierSet(supports)``. Plain releases against plain clauses (every patch's
    range, every LiteLLM release) are compared here; anything else goes to ``packaging``, whose
    import costs more than the rest of activation."""
    clauses = [_clause(part) for part in supports.split(",")]
    release = _release(version) if version == version.strip() else None
    if release is not None and all(clauses):
        return all(compare(release, bound) for compare, bound in clauses)  # type: ignore[misc]
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    return Version(version) in SpecifierSet(supports)


def _supported(patch: Patch, version: Optional[str]) -> Optional[str]:
    """``None`` if the patch may apply, else the reason it is skipped."""
    switch = env_flag(patch.env_var)
    if switch is False:
        return f"disabled by {patch.env_var}=0"
    if version is None:
        return "litellm is not installed"
    if not version_in(version, patch.supports):
        return f"litellm {version} is outside the supported range {patch.supports}"
    if patch.off_by_default and switch is not True:
        return f"off by default ({patch.off_by_default}); {patch.env_var}=1 turns it on"
    if patch.requires is not None:
        try:
            return patch.requires()
        except ImportError as exc:
            return missing_dependency(exc) or f"precondition check failed: {exc!r}"
        except Exception as exc:
            return f"precondition check failed: {exc!r}"
    return None


def _install(applied: List[Patch], modules: List[ModuleType]) -> None:
    """Put each applied patch's wrapper wherever a module global holds its original.

    A module is searched in Python only if it holds one of the originals: the membership test
    runs in C (``id`` of every global against a set), which keeps activation after
    ``import litellm`` (thousands of modules) to a few milliseconds."""
    wanted = {id(p.original) for p in applied}
    if not wanted:
        return
    for module in modules:
        namespace = getattr(module, "__dict__", None)
        if not namespace:
            continue
        try:
            hit = not wanted.isdisjoint(map(id, namespace.values()))
        except RuntimeError:  # the namespace changed under us (another thread importing)
            hit = True
        if hit:
            for patch in applied:
                patch.install_in(module)


def _install_loaded(applied: List[Patch]) -> None:
    """Install freshly applied patches in every loaded ``litellm.*`` module: by the shipped
    table of holders where it covers them (:mod:`._holders`), else by the full search."""
    rest = _holders.install_listed(applied, litellm_version())
    # The package root re-exports most patched functions (``litellm.register_model``, what users
    # call): searched by identity always, as the table has been seen to miss it (test_cost_logging).
    root = sys.modules.get("litellm")
    if root is not None:
        _install([p for p in applied if p not in rest], [root])
    if rest:
        _install(rest, _hooks.loaded_litellm_modules())


def _on_module_loaded(module: ModuleType) -> None:
    with _lock:
        if not _active:
            return
        resolved = []
        for patch in patches():
            if patch.state == PENDING and patch.target_module == module.__name__:
                patch.resolve(module)
                if patch.state == APPLIED:
                    resolved.append(patch)
        if resolved:
            _install_loaded(resolved)
        _install([p for p in patches() if p.state == APPLIED and p not in resolved], [module])


def activate() -> Dict[str, Any]:
    """Apply every supported patch; safe to call again. Returns :func:`status`."""
    activate_quietly()
    return status(resolve=False)


def activate_quietly() -> None:
    """:func:`activate` without building the status report (``import fast_litellm`` uses it)."""
    global _active
    with _lock:
        if env_flag("FAST_LITELLM_DISABLE"):
            for patch in patches():
                patch.state, patch.reason = SKIPPED, "FAST_LITELLM_DISABLE=1"
            return
        if _active:
            return
        _SHADOW[0] = shadow_enabled()
        native_error = native_available()
        version = litellm_version()
        for patch in patches():
            reason = _supported(patch, version)
            if reason is None and native_error is not None:
                reason = f"native module could not be loaded: {native_error}"
            if reason is not None:
                patch.state, patch.reason = SKIPPED, reason
            else:
                patch.state, patch.reason = PENDING, f"waiting for {patch.target_module} to be imported"
        _active = True
        _hooks.install(_on_module_loaded)
        resolved = []
        for patch in patches():
            module = sys.modules.get(patch.target_module)
            if patch.state == PENDING and module is not None:
                patch.resolve(module)
                if patch.state == APPLIED:
                    resolved.append(patch)
        if resolved:  # one pass over the loaded modules for every patch resolved now
            _install_loaded(resolved)


def deactivate() -> None:
    """Undo :func:`activate`: every patched attribute is the original object again."""
    global _active
    with _lock:
        if not _active:
            return
        _hooks.uninstall(_on_module_loaded)
        modules = _hooks.loaded_litellm_modules()
        for patch in patches():
            if patch.state == APPLIED:
                patch.restore(modules)
            if patch.state in (APPLIED, PENDING):
                patch.state, patch.reason = SKIPPED, "deactivated by fast_litellm.deactivate()"
        _active = False


def is_active() -> bool:
    return _active


def status(resolve: bool = True) -> Dict[str, Any]:
    """Plain data on every patch and the versions involved.

    With ``resolve`` (the default), patches still waiting for their LiteLLM module
    get it imported first, so every state is final.
    """
    with _lock:
        if resolve and _active:
            for patch in patches():
                if patch.state == PENDING:
                    try:
                        importlib.import_module(patch.target_module)
                    except Exception as exc:
                        patch.state, patch.reason = SKIPPED, f"cannot import {patch.target_module}: {exc!r}"
                    else:
                        if patch.state == PENDING:  # the import hook missed it
                            _on_module_loaded(sys.modules[patch.target_module])
        native = load_native()
        from . import __version__

        return {
            "active": _active,
            "shadow": _SHADOW[0],
            "patches": [p.as_status() for p in patches()],
            "versions": {
                "fast_litellm": __version__,
                "native": getattr(native, "__version__", None),
                "native_build": getattr(native, "build_profile", None),
                "litellm": litellm_version(),
                "python": platform.python_version(),
            },
            "native_error": _native_error if native is None else None,
        }
