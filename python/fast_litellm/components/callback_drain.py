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
Where the worker starts on a loop (``LoggingWorker.start``, every enqueue), that loop is
remembered; when an ``asyncio`` runner (``asyncio.run``, ``asyncio.Runner``) is about to cancel
the pending tasks of a remembered loop, the loop first runs until the worker is idle: a few loop
steps so scheduled handlers reach the queue, then the queue's ``join()`` (LiteLLM's own
``flush``), again until two rounds in a row find nothing new, within the worker's own per-callback
time limit (``LoggingWorker.timeout``) in total. Then the runner cancels and closes as before.
Other pending tasks get those few loop steps too (they are cancelled after, as before).

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


async def drain(worker: Any, loop: asyncio.AbstractEventLoop, budget: float) -> None:
    """Run ``loop`` until ``worker`` has nothing queued or running, for at most ``budget`` s."""
    deadline = loop.time() + budget
    idle = 0
    while idle < _IDLE_ROUNDS and loop.time() < deadline:
        for _ in range(3):  # a finished call's handler task enqueues one or two steps later
            await asyncio.sleep(0)
        queue = worker._queue
        if queue is None or worker._bound_loop is not loop or not getattr(queue, "_unfinished_tasks", 0):
            idle += 1
            continue
        idle = 0
        try:
            await asyncio.wait_for(worker.flush(), timeout=max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            return


def _install_runner_hook(patch: Patch) -> None:
    import asyncio.runners as runners

    if _hook:
        return
    original = runners._cancel_all_tasks  # type: ignore[attr-defined]

    def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> Any:
        if patch.state == APPLIED:
            for worker in list(_workers):
                if worker._bound_loop is loop and worker._queue is not None:
                    try:
                        budget = float(getattr(worker, "timeout", 0) or 0) or 20.0
                        loop.run_until_complete(drain(worker, loop, budget))
                    except Exception as exc:
                        patch.record_fallback(exc)
        return original(loop)

    _hook.append(original)
    runners._cancel_all_tasks = _cancel_all_tasks  # type: ignore[attr-defined]


def _remember_loop(patch: Patch, original: Callable[..., Any], _generic: Callable[..., Any]) -> Callable[..., Any]:
    """A ``Patch.wrap`` for ``LoggingWorker.start``: LiteLLM's start, then remember the worker."""

    def start(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        try:
            if self not in _workers:
                patch.calls += 1
                _workers.add(self)
            _install_runner_hook(patch)
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
