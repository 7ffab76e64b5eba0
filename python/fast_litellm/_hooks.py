"""Run a callback after each ``litellm`` module finishes importing.

Activation must work whether ``litellm`` is imported before or after
``fast_litellm``, and LiteLLM imports many submodules lazily (the proxy server
only when the proxy starts). A meta-path finder sees every ``litellm.*`` import,
lets the normal finders locate it, and wraps that one module's ``exec_module`` so
the registry can patch the fresh module before anyone imports names from it.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from types import ModuleType
from typing import Callable, List, Optional

_WATCHED_ROOT = "litellm"


def is_watched(name: str) -> bool:
    return name == _WATCHED_ROOT or name.startswith(_WATCHED_ROOT + ".")


class LiteLLMImportWatcher(importlib.abc.MetaPathFinder):
    """Meta-path finder that reports each loaded ``litellm.*`` module."""

    def __init__(self, on_loaded: Callable[[ModuleType], None]) -> None:
        self._on_loaded = on_loaded
        self._local = threading.local()

    def find_spec(self, fullname, path, target=None):  # type: ignore[override]
        if not is_watched(fullname) or getattr(self._local, "searching", False):
            return None
        self._local.searching = True
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._local.searching = False
        if spec is None or spec.loader is None:
            return spec
        self._wrap_loader(spec.loader)
        return spec

    def _wrap_loader(self, loader: object) -> None:
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None or getattr(exec_module, "_fast_litellm_hook", False):
            return
        on_loaded = self._on_loaded

        def exec_and_report(module: ModuleType) -> None:
            exec_module(module)
            try:
                on_loaded(module)
            except Exception:  # never break the user's import
                pass

        exec_and_report._fast_litellm_hook = True  # type: ignore[attr-defined]
        try:
            # The loader instance belongs to this one module, so this is local.
            loader.exec_module = exec_and_report  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass


_watcher: Optional[LiteLLMImportWatcher] = None
_listeners: List[Callable[[ModuleType], None]] = []


def _report(module: ModuleType) -> None:
    for on_loaded in list(_listeners):
        try:
            on_loaded(module)
        except Exception:  # one listener's failure must not hide the module from the others
            pass


def install(on_loaded: Callable[[ModuleType], None]) -> None:
    """Call ``on_loaded`` after each ``litellm.*`` module executes (one watcher serves every listener)."""
    global _watcher
    if on_loaded not in _listeners:
        _listeners.append(on_loaded)
    if _watcher is None:
        _watcher = LiteLLMImportWatcher(_report)
        sys.meta_path.insert(0, _watcher)


def uninstall(on_loaded: Callable[[ModuleType], None]) -> None:
    """Stop calling ``on_loaded``; the watcher leaves ``sys.meta_path`` with its last listener."""
    global _watcher
    if on_loaded in _listeners:
        _listeners.remove(on_loaded)
    if _watcher is not None and not _listeners:
        try:
            sys.meta_path.remove(_watcher)
        except ValueError:
            pass
        _watcher = None


def loaded_litellm_modules() -> list:
    # The test inline, not through is_watched: sys.modules holds thousands of names.
    return [m for name, m in list(sys.modules.items())
            if m is not None and (name.startswith("litellm.") or name == _WATCHED_ROOT)]
