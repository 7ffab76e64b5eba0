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
import platform
import sys
import threading
from types import ModuleType
from typing import Any, Dict, List, Optional

from . import _hooks
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
COMPONENTS = ("token_counting", "cost", "rate_limit", "transport", "metrics")

_lock = threading.RLock()
_patches: Optional[List[Patch]] = None
_active = False
_native_error: Optional[str] = None


def litellm_version() -> Optional[str]:
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return None


def load_native() -> Optional[ModuleType]:
    """The extension module, or ``None`` (the error is kept for ``doctor``)."""
    global _native_error
    try:
        from . import _native

        return _native
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


def _supported(patch: Patch, version: Optional[str]) -> Optional[str]:
    """``None`` if the patch may apply, else the reason it is skipped."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    switch = env_flag(patch.env_var)
    if switch is False:
        return f"disabled by {patch.env_var}=0"
    if version is None:
        return "litellm is not installed"
    if Version(version) not in SpecifierSet(patch.supports):
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


def _on_module_loaded(module: ModuleType) -> None:
    with _lock:
        if not _active:
            return
        for patch in patches():
            if patch.state == PENDING and patch.target_module == module.__name__:
                patch.resolve(module)
                if patch.state == APPLIED:
                    for other in _hooks.loaded_litellm_modules():
                        patch.install_in(other)
            elif patch.state == APPLIED:
                patch.install_in(module)


def activate() -> Dict[str, Any]:
    """Apply every supported patch; safe to call again. Returns :func:`status`."""
    global _active
    with _lock:
        if env_flag("FAST_LITELLM_DISABLE"):
            for patch in patches():
                patch.state, patch.reason = SKIPPED, "FAST_LITELLM_DISABLE=1"
            return status(resolve=False)
        if _active:
            return status(resolve=False)
        _SHADOW[0] = shadow_enabled()
        native = load_native()
        version = litellm_version()
        for patch in patches():
            reason = _supported(patch, version)
            if reason is None and native is None:
                reason = f"native module could not be loaded: {_native_error}"
            if reason is not None:
                patch.state, patch.reason = SKIPPED, reason
            else:
                patch.state, patch.reason = PENDING, f"waiting for {patch.target_module} to be imported"
        _active = True
        _hooks.install(_on_module_loaded)
        for patch in patches():
            module = sys.modules.get(patch.target_module)
            if patch.state == PENDING and module is not None:
                _on_module_loaded(module)
        return status(resolve=False)


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
