"""Async success callbacks lost when ``asyncio.run`` ends (LiteLLM #8842): a fix, off by default.

The problem (both pins, measured in tests/test_router.py)
--------------------------------------------------------
LiteLLM hands each call's success logging to a background task, which puts the callbacks on
its logging worker (``GLOBAL_LOGGING_WORKER``); the worker runs them in more tasks. When the
coroutine given to ``asyncio.run`` returns, the runner cancels every task still pending before
closing the loop: the last calls' handlers never reach the queue, callbacks already running
are cancelled midway. A script doing ``asyncio.run(router.acompletion(...))`` sees none of its
``async_log_success_event``; 8 concurrent calls see 0-4 of 8.

The fix
-------
When an ``asyncio`` runner (``asyncio.run``, ``asyncio.Runner``) is about to cancel the pending
tasks of its loop, the loop first runs until LiteLLM is done logging: the tasks that hand a
finished call's callbacks to the worker run to completion (they rebind the worker to this loop),
then the worker's queue is joined (LiteLLM's own ``flush``), again until two rounds in a row find
nothing new, within the worker's own per-callback time limit (``LoggingWorker.timeout``) in total.
Then the runner cancels and closes as before. Other pending tasks get those few loop steps too
(they are cancelled after, as before).

``FAST_LITELLM_CALLBACK_DRAIN=1`` turns it on. An error inside the drain leaves the runner's
shutdown as it was.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Callable

from .._patching import APPLIED, Patch

COMPONENT = "callback_drain"
_IDLE_ROUNDS = 2  # rounds in a row with nothing enqueued before the loop is let go

_workers: "weakref.WeakSet[Any]" = weakref.WeakSet()
_hook: list = []  # the runner's original _cancel_all_tasks, once hooked


# Coroutines LiteLLM schedules after a call returns, which then hand its callbacks to the worker
# (utils.py, both pins): the runner must let them run before it looks at the worker.
_HANDOFFS = frozenset({"_client_async_logging_helper"})


def _handoffs(loop: asyncio.AbstractEventLoop) -> list:
    current = asyncio.current_task(loop)
    return [t for t in asyncio.all_tasks(loop)
            if t is not current and getattr(t.get_coro(), "__name__", "") in _HANDOFFS]


def _busy_workers(loop: asyncio.AbstractEventLoop) -> list:
    return [w for w in list(_workers)
            if w._queue is not None and w._bound_loop is loop and getattr(w._queue, "_unfinished_tasks", 0)]


async def settle(loop: asyncio.AbstractEventLoop, budget: float) -> None:
    """Run ``loop`` until no call is still handing callbacks over and every worker bound to it is
    idle, for at most ``budget`` s. A worker LiteLLM used on an earlier loop is rebound by the
    first hand-over on this one, so the hand-overs are awaited before the workers are looked at."""
    deadline = loop.time() + budget
    idle = 0
    while idle < _IDLE_ROUNDS and loop.time() < deadline:
        for _ in range(3):  # a finished call's hand-over task is created one or two steps later
            await asyncio.sleep(0)
        pending = _handoffs(loop)
        if pending:
            idle = 0
            await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            continue
        busy = _busy_workers(loop)
        if not busy:
            idle += 1
            continue
        idle = 0
        try:
            await asyncio.wait_for(asyncio.gather(*(w.flush() for w in busy)),
                                   timeout=max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            return


def _budget() -> float:
    """LiteLLM's own per-callback time limit (``LoggingWorker.timeout``), 20 s if unknown."""
    limits = [float(getattr(w, "timeout", 0) or 0) for w in list(_workers)]
    return max(limits, default=0.0) or 20.0


def _install_runner_hook(patch: Patch) -> None:
    import asyncio.runners as runners

    if _hook:
        return
    original = runners._cancel_all_tasks  # type: ignore[attr-defined]

    def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> Any:
        if patch.state == APPLIED:
            try:
                loop.run_until_complete(settle(loop, _budget()))
            except Exception as exc:
                patch.record_fallback(exc)
        return original(loop)

    _hook.append(original)
    runners._cancel_all_tasks = _cancel_all_tasks  # type: ignore[attr-defined]


def _remember_loop(patch: Patch, original: Callable[..., Any], _generic: Callable[..., Any]) -> Callable[..., Any]:
    """A ``Patch.wrap`` for ``LoggingWorker.start``: LiteLLM's start, then remember the worker.
    The runner hook goes in now, when the patch is applied: a script's first ``asyncio.run`` may
    end before any callback reached the worker."""
    _install_runner_hook(patch)

    def start(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        try:
            if self not in _workers:
                patch.calls += 1
                _workers.add(self)
        except Exception as exc:
            patch.record_fallback(exc)
        return result

    return start


PATCHES = [
    Patch(
        name=f"{COMPONENT}.logging_worker",
        component=COMPONENT,
        target="litellm.litellm_core_utils.logging_worker:LoggingWorker.start",
        supports=">=1.83.7,<1.111",
        build=lambda original: original,  # the wrap does the work
        wrap=_remember_loop,
        fix="LiteLLM #8842 (async success callbacks dropped when asyncio.run ends)",
        off_by_default="a behaviour change: asyncio.run waits for LiteLLM's pending callbacks before it returns",
        summary="Before asyncio.run / asyncio.Runner cancel the pending tasks of a loop LiteLLM's logging worker "
                "ran on, the loop runs until the worker's queue is drained (bounded by the worker's own "
                "per-callback timeout), so every async success callback fires.",
        callers="LoggingWorker.ensure_initialized_and_enqueue, at every enqueued callback",
    ),
]

BENCHMARKS: list = []
