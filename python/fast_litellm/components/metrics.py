"""Metrics: one consistent Prometheus ``/metrics`` across proxy workers.

The problem (LiteLLM issue #10595)
----------------------------------
``prometheus_client`` keeps metric values in the memory of the process that
counts them. With several workers, ``/metrics`` is answered by whichever worker
the connection lands on, from that worker's own registry: totals are a quarter
of the truth with four workers and jump up and down between scrapes.
``prometheus_client``'s multiprocess mode fixes that: when
``PROMETHEUS_MULTIPROC_DIR`` is set *before* ``prometheus_client`` is imported,
every process writes its values to mmap'd files named by pid in that directory,
and a ``MultiProcessCollector`` over the directory sums them (counters and
histograms; gauges by their ``multiprocess_mode``).

What LiteLLM does itself (read in 1.83.14 and 1.110.2)
------------------------------------------------------
* ``PrometheusLogger._mount_metrics_endpoint`` (``litellm/integrations/prometheus.py``)
  already mounts ``/metrics`` from a ``MultiProcessCollector`` whenever
  ``PROMETHEUS_MULTIPROC_DIR`` is set, on both versions. Prometheus is not a
  premium feature on either (only some label filters are); 1.110.2 puts
  ``/metrics`` behind the proxy's auth unless
  ``litellm_settings.require_auth_for_metrics_endpoint: false``.
* The ``litellm`` CLI sets the variable only for ``--num_workers > 1`` with
  ``prometheus`` in the config's callbacks, and then always to the same
  ``$TMPDIR/litellm_prometheus_multiproc``, wiped at start and never removed: two
  proxies on one host share (and wipe) each other's files. Nothing sets it for
  ``gunicorn -w N ... litellm.proxy.proxy_server:app`` or ``uvicorn --workers N``,
  which therefore flicker.
* LiteLLM's gauges (budgets, provider rate-limit headers, deployment state, user
  and team counts; all written with ``set()``) use ``prometheus_client``'s default
  multiprocess mode ``all``: one series per worker pid, dead workers' included,
  e.g. ``litellm_total_users{pid="123"}`` four times with four workers.

What Fast LiteLLM does
----------------------
* The launcher (``fast-litellm proxy`` with any ``--num_workers``, and
  ``fast-litellm run -- CMD``) calls :func:`prepare_launch`: a fresh private
  directory per launch, exported as ``PROMETHEUS_MULTIPROC_DIR`` to every process,
  removed by a small watcher process once the launched command (and every process
  that inherited its pipe, e.g. forked gunicorn workers) has exited. A directory
  the user set (``PROMETHEUS_MULTIPROC_DIR`` or the older lowercase name) is used
  as is, neither wiped nor removed. ``FAST_LITELLM_METRICS=0`` leaves the
  environment alone.
* The patch below gives LiteLLM's ``PrometheusLogger`` gauges the multiprocess
  mode ``mostrecent`` (only while ``PROMETHEUS_MULTIPROC_DIR`` is set): one series
  per label set holding the value last written by any worker. Every one of those
  gauges is ``set()`` to a fact about the world (a budget, a provider's remaining
  quota, a deployment's state), not a per-worker quantity that should be summed
  (``livesum`` is right for in-flight counts, which LiteLLM already declares
  itself). Gauges given an explicit mode by LiteLLM keep it.
* When ``litellm.integrations.prometheus`` is imported in a worker, the live-gauge
  files of pids that no longer run are dropped (``mark_process_dead``), as
  LiteLLM 1.110.2 does at worker start; 1.83.14 only does it through gunicorn's
  ``child_exit`` hook of its own CLI. Counter and histogram files are never
  removed, so totals never go down.

The fast lane: with a Prometheus callback in the config the Rust front still serves
what it can and queues one record per served request; a LiteLLM worker replays it
through its own success logging (``fastlane/replay.py``), so the counters include
it. ``/metrics`` itself is forwarded unchanged.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from typing import Any, Callable, List, Optional, Sequence

from .._patching import NOT_COVERED, Patch, env_flag

COMPONENT = "metrics"
ENV = "PROMETHEUS_MULTIPROC_DIR"
_LEGACY_ENV = "prometheus_multiproc_dir"  # still read by prometheus_client

#: Multiprocess mode given to LiteLLM's own gauges (see the module docstring).
GAUGE_MODE = "mostrecent"

_LIVE_GAUGE_FILE = r"gauge_live[a-z]*_(\d+)\.db$"  # compiled at first use (re caches it), not at import


def multiproc_dir(env: Optional[dict] = None) -> Optional[str]:
    env = os.environ if env is None else env
    return env.get(ENV) or env.get(_LEGACY_ENV) or None


# -- launcher ---------------------------------------------------------------------


def prepare_launch(env: dict, cleanup: Sequence[str] = ()) -> Optional[str]:
    """Give the command about to be launched with ``env`` one metrics directory.

    Returns the directory in use (``None`` when switched off). A directory the
    user set is kept as it is; otherwise a fresh one is created, exported in
    ``env`` and removed once the launched command has exited. ``cleanup`` names
    other per-launch files (the shared rate-limit table) removed at the same time.
    """
    paths = list(cleanup)
    path: Optional[str] = None
    if not (env_flag("FAST_LITELLM_METRICS") is False or env_flag("FAST_LITELLM_DISABLE")):
        existing = multiproc_dir(env)
        if existing:
            os.makedirs(existing, exist_ok=True)
            path = existing
        else:
            path = tempfile.mkdtemp(prefix="fast-litellm-prometheus-")
            env[ENV] = path
            paths.append(path)
    if paths:
        try:
            _remove_when_done(paths)
        except OSError:
            pass  # no watcher: the files stay in $TMPDIR, nothing else changes
    return path


def _remove_when_done(paths: Sequence[str]) -> None:
    """Remove ``paths`` (directories or files) once every holder of a pipe's write end has exited.

    The write end stays open, inheritable, in this process: across ``exec`` and in
    every forked child. A detached watcher (its own session, so a Ctrl-C or a
    ``killpg`` of the command does not stop it) blocks on the read end and
    removes the directory at end of file.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked watcher
        code = 0
        try:
            os.close(w)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
                signal.signal(sig, signal.SIG_IGN)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            keep = {0, 1, 2, r}
            for fd in _open_fds():
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            while True:
                try:
                    if not os.read(r, 4096):
                        break
                except InterruptedError:
                    continue
            for path in paths:
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.remove(path)
                    except OSError:
                        pass
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(r)
    os.waitpid(pid, 0)
    os.set_inheritable(w, True)


def _open_fds() -> List[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


# -- in each worker ---------------------------------------------------------------


def mark_dead_workers(directory: str) -> List[int]:
    """Drop the live-gauge files of pids that no longer run; return those pids."""
    import glob  # here, not at import: `import fast_litellm` stays cheap

    pids = set()
    for name in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        m = re.search(_LIVE_GAUGE_FILE, name)
        if m is not None:
            pids.add(int(m.group(1)))
    dead = sorted(p for p in pids if p != os.getpid() and not _running(p))
    if dead:
        from prometheus_client import multiprocess

        for pid in dead:
            multiprocess.mark_process_dead(pid, path=directory)
    return dead


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build_metric_factory(original: Callable[..., Any]) -> Callable[..., Any]:
    directory = multiproc_dir()
    if directory and os.path.isdir(directory):
        try:
            mark_dead_workers(directory)
        except Exception:
            pass  # housekeeping only

    def create_metric_factory(self: Any, metric_class: Any, *args: Any, **kwargs: Any) -> Any:
        if not multiproc_dir():
            return NOT_COVERED
        try:
            from prometheus_client import Gauge
        except ImportError:
            return NOT_COVERED
        if metric_class is not Gauge or GAUGE_MODE not in getattr(Gauge, "_MULTIPROC_MODES", ()):
            return NOT_COVERED

        def gauge(*g_args: Any, **g_kwargs: Any) -> Any:
            g_kwargs.setdefault("multiprocess_mode", GAUGE_MODE)
            return metric_class(*g_args, **g_kwargs)

        return original(self, gauge, *args, **kwargs)

    return create_metric_factory


def _tolerant_collector_class() -> Any:
    """A ``MultiProcessCollector`` that skips metric files another worker is creating.

    ``prometheus_client`` creates a worker's ``.db`` file empty and sizes it just after;
    a scrape that reads it in between fails with ``struct.error`` (HTTP 500 on /metrics,
    seen under load with 4 workers). An empty or vanished file holds no samples yet.
    """
    import glob

    from prometheus_client import multiprocess

    class TolerantMultiProcessCollector(multiprocess.MultiProcessCollector):
        def collect(self):  # type: ignore[override]
            files = []
            for name in glob.glob(os.path.join(self._path, "*.db")):
                try:
                    if os.path.getsize(name) >= 8:
                        files.append(name)
                except OSError:
                    pass  # removed since listed (a dead worker's live gauges)
            return self.merge(files, accumulate=True)

    return TolerantMultiProcessCollector


def _build_mount_metrics_endpoint(original: Callable[..., Any]) -> Callable[..., Any]:
    tolerant = _tolerant_collector_class()

    def mount_metrics_endpoint(*args: Any, **kwargs: Any) -> Any:
        if not multiproc_dir():
            return NOT_COVERED
        from prometheus_client import multiprocess

        # LiteLLM builds its /metrics app from ``multiprocess.MultiProcessCollector``
        # (looked up at call time): hand it the tolerant collector for that one call.
        stock = multiprocess.MultiProcessCollector
        multiprocess.MultiProcessCollector = tolerant
        try:
            return original(*args, **kwargs)
        finally:
            multiprocess.MultiProcessCollector = stock

    return mount_metrics_endpoint


PATCHES = [
    Patch(
        name="metrics.gauge_multiprocess_mode",
        component=COMPONENT,
        target="litellm.integrations.prometheus:PrometheusLogger._create_metric_factory",
        supports=">=1.83.14,<1.111",
        build=_build_metric_factory,
        # Factories are closures: equal when both make metrics (shadow mode).
        compare=lambda stock, ours: callable(stock) and callable(ours),
        summary=(
            "Only with PROMETHEUS_MULTIPROC_DIR set (the launcher sets a private one per launch): "
            "LiteLLM's Prometheus gauges get multiprocess_mode='mostrecent' (one series holding the "
            "last value any worker set) instead of the default 'all' (one series per worker pid, "
            "dead workers included); also drops dead workers' live-gauge files at worker start. "
            "/metrics itself already reads a MultiProcessCollector on both versions when the "
            "directory is set. A correctness fix, not a speed patch: no benchmark."
        ),
        callers="PrometheusLogger.__init__ (the 'prometheus' callback), once per worker",
    ),
    Patch(
        name="metrics.tolerant_multiprocess_scrape",
        component=COMPONENT,
        target="litellm.integrations.prometheus:PrometheusLogger._mount_metrics_endpoint",
        supports=">=1.83.14,<1.111",
        build=_build_mount_metrics_endpoint,
        compare=lambda stock, ours: stock is None and ours is None,
        summary=(
            "Only with PROMETHEUS_MULTIPROC_DIR set: /metrics reads the workers' metric files with a "
            "collector that skips a file another worker is still creating (prometheus_client creates "
            "it empty, then sizes it; reading it in between fails the scrape with HTTP 500). "
            "A correctness fix, not a speed patch: no benchmark."
        ),
        callers="PrometheusLogger.__init__ mounts /metrics once per worker when the 'prometheus' callback loads",
    ),
]

BENCHMARKS: list = []
