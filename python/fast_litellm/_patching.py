"""Patches: what one accelerated LiteLLM function is, and how it is swapped in and out.

A :class:`Patch` names the function it replaces (``module:qualname``), the LiteLLM
versions it supports and how to build the fast implementation. Once applied, the
replacement is installed in the defining module *and* in every ``litellm.*``
module that holds the same object (``from x import f`` copies the reference), now
and in modules imported later. Deactivation puts the very same original object
back everywhere.

The fast implementation may return :data:`NOT_COVERED` to hand a call it does not
cover to LiteLLM unchanged. Anything it raises (a Rust panic included) makes the
call fall back to LiteLLM with the same arguments.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

logger = logging.getLogger("fast_litellm")


class _NotCovered:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_COVERED"


#: Returned by a fast implementation for inputs it leaves to LiteLLM.
NOT_COVERED: Any = _NotCovered()

# Never swallowed by the fallback: they are the caller's, not a failure of ours.
_NEVER_CATCH = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)

APPLIED, SKIPPED, FAILED = "applied", "skipped", "failed"
PENDING = "pending"  # supported, waiting for its module to be imported


def env_flag(name: str, env: Optional[Mapping[str, str]] = None) -> Optional[bool]:
    """``True``/``False`` for a set boolean environment variable (in ``env``, default
    ``os.environ``), else ``None``."""
    raw = (os.environ if env is None else env).get(name)
    if raw is None or raw.strip() == "":
        return None
    return raw.strip().lower() not in ("0", "false", "no", "off")


def shadow_enabled() -> bool:
    return bool(env_flag("FAST_LITELLM_SHADOW"))


@dataclass(eq=False)
class Patch:
    """One LiteLLM function replaced by a Rust-backed implementation."""

    name: str
    component: str
    target: str  # "package.module:Qualified.name" where the function is defined
    supports: str  # PEP 440 specifier on the installed litellm distribution
    build: Callable[[Callable[..., Any]], Callable[..., Any]]
    summary: str
    # Why this is worth patching on the supported versions (who calls it).
    callers: str = ""
    compare: Callable[[Any, Any], bool] = field(default=lambda a, b: a == b)
    # Non-empty: exact but not a measured win, so off unless FAST_LITELLM_<COMPONENT>=1.
    off_by_default: str = ""
    # Optional ``(patch, original, generic_wrapper) -> function`` installed instead of the generic
    # wrapper: a fused fast path for the hottest calls that hands every other call to
    # ``generic_wrapper`` and keeps its semantics (counters, fallback, NOT_COVERED, shadow).
    wrap: Optional[Callable[..., Callable[..., Any]]] = None
    # Optional runtime precondition, checked at each activation: ``None`` when the patch
    # applies, else the reason it is skipped (e.g. LiteLLM only calls the target under a
    # setting that is off). Raising counts as "skipped" with the exception as reason.
    requires: Optional[Callable[[], Optional[str]]] = None
    # Non-empty: a deliberate fix of a LiteLLM bug (names the upstream issue), not an
    # acceleration. ``doctor`` lists it as a fix; one that can change a correct result is
    # also ``off_by_default``.
    fix: str = ""
    # The target method may be inherited: it is looked up along the class's MRO and the
    # wrapper is installed on the named class itself (restore removes it again).
    inherited: bool = False

    # Runtime state, reset by each activation (counters are cumulative).
    state: str = field(default=SKIPPED, init=False)
    reason: str = field(default="not activated", init=False)
    original: Optional[Callable[..., Any]] = field(default=None, init=False)
    wrapper: Optional[Callable[..., Any]] = field(default=None, init=False)
    fast: Optional[Callable[..., Any]] = field(default=None, init=False)
    calls: int = field(default=0, init=False)
    fallbacks: int = field(default=0, init=False)
    mismatches: int = field(default=0, init=False)
    delegated: int = field(default=0, init=False)
    _warned_fallback: bool = field(default=False, init=False)
    _warned_mismatch: bool = field(default=False, init=False)
    _built: Optional[Tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]] = field(
        default=None, init=False
    )
    _installed_on_subclass: bool = field(default=False, init=False)

    @property
    def env_var(self) -> str:
        return "FAST_LITELLM_" + self.component.upper()

    @property
    def target_module(self) -> str:
        return self.target.split(":", 1)[0]

    @property
    def target_qualname(self) -> str:
        return self.target.split(":", 1)[1]

    # -- resolution ---------------------------------------------------------

    def lookup(self, module: ModuleType) -> Tuple[Any, Any, Any]:
        """``(owner, defining class or owner, object found)`` for the target in ``module``
        (raises ``AttributeError``/``KeyError`` when this LiteLLM has no such target)."""
        owner: Any = module
        parts = self.target_qualname.split(".")
        for part in parts[:-1]:
            owner = getattr(owner, part)
        defining = owner
        if isinstance(owner, type) and self.inherited:
            defining = next((k for k in owner.__mro__ if parts[-1] in k.__dict__), owner)
        found = defining.__dict__[parts[-1]] if isinstance(owner, type) else getattr(owner, parts[-1])
        return owner, defining, found

    def resolve(self, module: ModuleType) -> None:
        """Look the target up in its freshly imported module and swap it."""
        parts = self.target_qualname.split(".")
        try:
            owner, defining, original = self.lookup(module)
        except (AttributeError, KeyError):
            self.state, self.reason = SKIPPED, f"target {self.target} does not exist in this LiteLLM"
            return
        # A static method is patched as its function and installed as a static method again,
        # so calls through an instance (``self.f(...)``) do not pass the instance.
        static = original if isinstance(original, staticmethod) else None
        if static is not None:
            original = original.__func__
        if getattr(original, "_fast_litellm_patch", None) == self.name:
            original = original.__wrapped__  # already ours (re-activation)
        try:
            if self._built is not None and self._built[0] is original:
                _, fast, wrapper = self._built
            else:
                fast = self.build(original)
                wrapper = _make_wrapper(self, original)
                if self.wrap is not None:
                    wrapper = _finish_wrapper(self, original, self.wrap(self, original, wrapper))
                self._built = (original, fast, wrapper)
        except ImportError as exc:
            missing = missing_dependency(exc)
            if missing is None:
                self._fail(exc)
            else:  # an optional dependency LiteLLM itself only needs for this feature: not a failure
                self.state, self.reason = SKIPPED, missing
            return
        except Exception as exc:  # a build failure must not break the import
            self._fail(exc)
            return
        if static is not None:
            # Restore puts back the very descriptor found (a fresh one after re-activation).
            original = static if static.__func__ is original else staticmethod(original)
            wrapper = staticmethod(wrapper)
        self.original, self.fast, self.wrapper = original, fast, wrapper
        self._installed_on_subclass = defining is not owner
        setattr(owner, parts[-1], wrapper)
        if isinstance(owner, type):
            # Class-level aliases (``_create_async_transport = create_async_transport``) are other
            # names LiteLLM (or its users) call the same function by: they get the wrapper too.
            for attr, value in list(owner.__dict__.items()):
                if attr != parts[-1] and _same_function(value, self._built[0]):
                    setattr(owner, attr, wrapper)
        self.state, self.reason = APPLIED, ""

    def _fail(self, exc: BaseException) -> None:
        self.state, self.reason = FAILED, f"building the replacement failed: {exc!r}"
        logger.warning("fast_litellm: patch %s failed: %r", self.name, exc)

    def install_in(self, module: ModuleType) -> None:
        """Replace every global of ``module`` that is the original object."""
        if self.state != APPLIED or module.__name__ == self.target_module:
            return
        namespace = getattr(module, "__dict__", None)
        if not namespace:
            return
        for attr, value in list(namespace.items()):
            if value is self.original:
                setattr(module, attr, self.wrapper)

    def restore(self, modules: List[ModuleType]) -> None:
        """Put the original object back wherever the wrapper is."""
        if self.state != APPLIED:
            return
        for module in modules:
            namespace = getattr(module, "__dict__", None) or {}
            for attr, value in list(namespace.items()):
                if value is self.wrapper:
                    setattr(module, attr, self.original)
        owner = self._owner_class()
        if owner is not None:
            name = self.target_qualname.split(".")[-1]
            for attr, value in list(owner.__dict__.items()):
                if value is not self.wrapper:  # the target and its aliases hold the wrapper
                    continue
                if attr == name and self._installed_on_subclass:
                    delattr(owner, attr)  # inherited again, as before
                else:
                    setattr(owner, attr, self.original)

    def _owner_class(self) -> Optional[type]:
        """The class the target is defined in (``None`` for a module-level function)."""
        import sys

        parts = self.target_qualname.split(".")
        if len(parts) < 2:
            return None
        owner: Any = sys.modules.get(self.target_module)
        try:
            for part in parts[:-1]:
                owner = getattr(owner, part)
        except AttributeError:
            return None
        return owner if isinstance(owner, type) else None

    def places(self) -> List[str]:
        """Where the wrapper is installed now: the target and every module global holding it."""
        if self.state != APPLIED:
            return []
        from ._hooks import loaded_litellm_modules

        found = [
            f"{module.__name__}:{attr}"
            for module in loaded_litellm_modules()
            for attr, value in list((getattr(module, "__dict__", None) or {}).items())
            if value is self.wrapper
        ]
        owner = self._owner_class()
        if owner is not None:
            prefix = self.target.rsplit(".", 1)[0]
            found += [f"{prefix}.{attr}" for attr, value in list(owner.__dict__.items()) if value is self.wrapper]
        return [self.target] + sorted(set(p for p in found if p != self.target))

    # -- fallback and shadow ------------------------------------------------

    def record_fallback(self, exc: BaseException) -> None:
        self.fallbacks += 1
        if not self._warned_fallback:
            self._warned_fallback = True
            logger.warning(
                "fast_litellm: %s raised %r; falling back to LiteLLM (logged once per patch)",
                self.name,
                exc,
            )

    def record_mismatch(self, stock: Any, accelerated: Any, args: tuple, kwargs: dict) -> None:
        self.mismatches += 1
        if not self._warned_mismatch:
            self._warned_mismatch = True
            logger.warning(
                "fast_litellm: shadow mismatch in %s: LiteLLM gave %r, accelerated gave %r "
                "(args=%.300r kwargs=%.300r; logged once per patch)",
                self.name,
                stock,
                accelerated,
                args,
                kwargs,
            )

    def as_status(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "component": self.component,
            "state": self.state,
            "reason": self.reason,
            "targets": self.places() or [self.target],
            "supports": self.supports,
            "env": self.env_var,
            "summary": self.summary,
            "fix": self.fix,
            "calls": self.calls,
            "fallbacks": self.fallbacks,
            "mismatches": self.mismatches,
            "delegated": self.delegated,
        }


def _same_function(value: Any, function: Any) -> bool:
    if isinstance(value, staticmethod):
        value = value.__func__
    return value is function


def missing_dependency(exc: ImportError) -> Optional[str]:
    """The skip reason for an import of a module that is not installed, or ``None`` when the
    missing module is part of LiteLLM or Fast LiteLLM (a real failure, not an optional extra)."""
    name = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not name:
        return None
    top = name.split(".", 1)[0]
    if top in ("litellm", "fast_litellm"):
        return None
    return f"needs the optional package {top!r}, which is not installed (LiteLLM needs it for this feature too)"


_shadow_lock = threading.Lock()


def _shadow_compare(patch: Patch, args: tuple, kwargs: dict, stock: Any, stock_exc: Optional[BaseException], fast_out: Any, fast_exc: Optional[BaseException]) -> None:
    if fast_exc is not None or stock_exc is not None:
        same = type(fast_exc) is type(stock_exc)
        shown_stock, shown_fast = stock_exc or stock, fast_exc or fast_out
    elif fast_out is NOT_COVERED:
        return
    else:
        try:
            same = bool(patch.compare(stock, fast_out))
        except Exception:
            same = False
        shown_stock, shown_fast = stock, fast_out
    if not same:
        with _shadow_lock:
            patch.record_mismatch(shown_stock, shown_fast, args, kwargs)


def _make_wrapper(patch: Patch, original: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(original):

        async def accelerated_async(*args: Any, **kwargs: Any) -> Any:
            patch.calls += 1
            if _SHADOW[0]:
                stock_exc = fast_exc = None
                stock = fast_out = None
                try:
                    stock = await original(*args, **kwargs)
                except Exception as exc:
                    stock_exc = exc
                try:
                    fast_out = patch.fast(*args, **kwargs)  # type: ignore[misc]
                    if inspect.isawaitable(fast_out):
                        fast_out = await fast_out
                except Exception as exc:
                    fast_exc = exc
                _shadow_compare(patch, args, kwargs, stock, stock_exc, fast_out, fast_exc)
                if stock_exc is not None:
                    raise stock_exc
                return stock
            try:
                result = patch.fast(*args, **kwargs)  # type: ignore[misc]
                if inspect.isawaitable(result):
                    result = await result
            except _NEVER_CATCH:
                raise
            except BaseException as exc:  # PanicException is a BaseException
                patch.record_fallback(exc)
                return await original(*args, **kwargs)
            if result is NOT_COVERED:
                patch.delegated += 1
                return await original(*args, **kwargs)
            return result

        wrapper: Callable[..., Any] = accelerated_async
    else:

        def accelerated(*args: Any, **kwargs: Any) -> Any:
            patch.calls += 1
            if _SHADOW[0]:
                stock_exc = fast_exc = None
                stock = fast_out = None
                try:
                    stock = original(*args, **kwargs)
                except Exception as exc:
                    stock_exc = exc
                try:
                    fast_out = patch.fast(*args, **kwargs)  # type: ignore[misc]
                except Exception as exc:
                    fast_exc = exc
                except BaseException as exc:
                    if isinstance(exc, _NEVER_CATCH):
                        raise
                    fast_exc = exc
                _shadow_compare(patch, args, kwargs, stock, stock_exc, fast_out, fast_exc)
                if stock_exc is not None:
                    raise stock_exc
                return stock
            try:
                result = patch.fast(*args, **kwargs)  # type: ignore[misc]
            except _NEVER_CATCH:
                raise
            except BaseException as exc:  # PanicException is a BaseException
                patch.record_fallback(exc)
                return original(*args, **kwargs)
            if result is NOT_COVERED:
                patch.delegated += 1
                return original(*args, **kwargs)
            return result

        wrapper = accelerated
    return _finish_wrapper(patch, original, wrapper)


def _finish_wrapper(patch: Patch, original: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    functools.update_wrapper(wrapper, original)  # keeps the original as __wrapped__
    try:
        # inspect.getfullargspec ignores __wrapped__ but honours __signature__: LiteLLM's
        # _add_proxy_hooks picks a hook class's constructor arguments with it.
        wrapper.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        pass
    wrapper._fast_litellm_patch = patch.name  # type: ignore[attr-defined]
    return wrapper


# Read by every wrapper call; a one-element list so activation can flip it.
_SHADOW = [False]
