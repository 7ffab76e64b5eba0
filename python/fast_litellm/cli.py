"""``fast-litellm``: doctor, run, proxy and bench."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from .components import metrics as _metrics

# Planning one price-map entry verifies it against LiteLLM (tens of stock calls): the whole map
# takes about a minute, every 50th entry a few seconds.
COVERAGE_SAMPLE_EVERY = 50
LAUNCHER_DIR = Path(__file__).resolve().parent / "_launcher"
DEFAULT_CONFIG = Path(__file__).resolve().parent / "default_proxy_config.yaml"


# -- doctor -----------------------------------------------------------------


def _doctor(args: argparse.Namespace) -> int:
    import fast_litellm

    try:
        import litellm  # noqa: F401  (import so every patch reaches a final state)
    except Exception as exc:  # pragma: no cover - reported, not raised
        print(f"warning: import litellm failed: {exc!r}", file=sys.stderr)
    report = fast_litellm.status()
    if args.coverage or args.coverage_full:
        from . import _coverage_cache

        sample_every = 1 if args.coverage_full else COVERAGE_SAMPLE_EVERY
        report["coverage"] = _coverage_cache.collect(sample_every, fresh=getattr(args, "no_cache", False))
    if args.proxy_config:
        from .fastlane import launcher

        report["fast_lane"] = launcher.explain(args.proxy_config)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        v = report["versions"]
        print(f"fast_litellm {v['fast_litellm']}  native {v['native'] or 'NOT LOADED'} ({v['native_build']})")
        print(f"litellm {v['litellm']}  python {v['python']}  shadow={'on' if report['shadow'] else 'off'}")
        if report["native_error"]:
            print(f"native module error: {report['native_error']}")
        if not report["patches"]:
            print("no patches registered")
        for p in report["patches"]:
            line = f"  [{p['state']:>7}] {p['name']:<28} {p['env']}"
            if p["reason"]:
                line += f"  - {p['reason']}"
            print(line)
            if p.get("fix"):
                print(f"            fix of a LiteLLM bug: {p['fix']}")
            if p["state"] == "applied":
                print(f"            in {len(p['targets'])} place(s); calls={p['calls']} "
                      f"fallbacks={p['fallbacks']} mismatches={p['mismatches']} delegated={p['delegated']}")
                if args.verbose:
                    for t in p["targets"]:
                        print(f"              {t}")
        if report.get("coverage"):
            print(_coverage_table(report["coverage"]))
        if not (args.coverage or args.coverage_full):
            print("  (fast-litellm doctor --coverage: what share of models/shapes each component serves natively)")
        if args.proxy_config:
            fl = report["fast_lane"]
            print(f"  proxy fast lane for {args.proxy_config}: "
                  + (f"Rust serves {fl['rust_groups']}" if fl["rust_groups"] else f"pass-through only ({fl['reason']})"))
            if fl.get("streams"):
                print(f"    {fl['streams']}")
            if fl.get("logging"):
                print(f"    {fl['logging']}")
            if fl.get("router"):
                print(f"    router settings served: {fl['router']['served_settings'] or 'none (defaults)'}")
            for name, why in sorted(fl["python_groups"].items()):
                print(f"    {name}: LiteLLM ({why})")
            if fl.get("settings"):
                print("    settings (serve: no effect on a served request, or reproduced; pass-through: why):")
                for row in fl["settings"]:
                    print(f"      [{row['verdict']:>12}] {row['key']}: {row['why']}")
            for version, cov in sorted(fl.get("settings_coverage", {}).items()):
                if cov:
                    print(f"    settings keys served on LiteLLM {version}: {cov['all']['serve']} of {cov['all']['keys']} "
                          f"({100 * cov['all']['fraction']:.1f}%; " + ", ".join(
                              f"{s} {c['serve']}/{c['keys']}" for s, c in cov.items() if s != "all") + ")")
            print("    (the whole table: docs/fast-lane-settings.md)")
            print("  (each proxy response says which lane served it: x-fast-litellm-lane: rust|python)")
    return 0 if report["versions"]["native"] else 1


def _coverage_rows(prefix: str, value: object) -> List[tuple]:
    """(measure, value) rows of one component's coverage dict, nested keys joined by '.'."""
    if isinstance(value, dict):
        rows: List[tuple] = []
        for key in value:
            rows += _coverage_rows(f"{prefix}.{key}" if prefix else str(key), value[key])
        return rows
    if isinstance(value, float) and prefix.rsplit(".", 1)[-1].startswith("share"):
        return [(prefix, f"{value:.1%}")]
    return [(prefix, value if isinstance(value, str) else json.dumps(value))]


def _coverage_table(coverage: dict, width: int = 100) -> str:
    """``doctor --coverage`` as a table: component | measure | value (long text wrapped)."""
    import textwrap

    rows = [(component, measure, str(value)) for component, cov in coverage.items()
            for measure, value in _coverage_rows("", cov)]
    w1 = max([len("component")] + [len(r[0]) for r in rows])
    w2 = max([len("measure")] + [len(r[1]) for r in rows])
    w3 = max(20, width - w1 - w2 - 6)
    lines = ["  coverage (share of the price map, models and shapes served natively)",
             f"  {'component':<{w1}}  {'measure':<{w2}}  value", f"  {'-' * w1}  {'-' * w2}  {'-' * min(w3, 40)}"]
    last = None
    for component, measure, value in rows:
        wrapped = textwrap.wrap(value, w3) or [""]
        shown = component if component != last else ""
        last = component
        lines.append(f"  {shown:<{w1}}  {measure:<{w2}}  {wrapped[0]}")
        lines += [f"  {'':<{w1}}  {'':<{w2}}  {more}" for more in wrapped[1:]]
    return "\n".join(lines)


# -- run / proxy --------------------------------------------------------------


def launcher_env(base: Optional[dict] = None) -> dict:
    """Environment in which every Python process imports fast_litellm at start."""
    env = dict(os.environ if base is None else base)
    paths = [str(LAUNCHER_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["FAST_LITELLM_LAUNCHER"] = "1"
    # One rate-limit table per launched instance, shared by its worker processes (components/rate_limit/).
    env.setdefault("FAST_LITELLM_RATE_LIMIT_SHM", os.path.join(tempfile.gettempdir(), f"{_SHM_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.shm"))
    return env


_SHM_PREFIX = "fast-litellm-rl-"


def _launch_files(env: dict) -> List[str]:
    """Per-launch files the launcher created (removed when the launched command exits)."""
    shm = env.get("FAST_LITELLM_RATE_LIMIT_SHM", "")
    if shm and shm != os.environ.get("FAST_LITELLM_RATE_LIMIT_SHM") and os.path.basename(shm).startswith(_SHM_PREFIX):
        return [shm, shm + ".v3", shm + ".v3b"]  # the v1, v3 (1.83.x) and v3 (1.110.x) limiters' tables
    return []


def _exec(argv: List[str], env: dict) -> int:
    exe = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
    try:
        os.execvpe(exe, argv, env)
    except FileNotFoundError:
        print(f"fast-litellm: command not found: {argv[0]}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover - exec does not return


def _run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("usage: fast-litellm run -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = launcher_env()
    _metrics.prepare_launch(env, cleanup=_launch_files(env))  # one Prometheus multiprocess dir for every worker
    return _exec(command, env)


def _litellm_cli() -> str:
    """The `litellm` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "litellm"
    if beside.exists():
        return str(beside)
    found = shutil.which("litellm")
    if found is None:
        raise SystemExit("fast-litellm: the `litellm` command is not installed (pip install 'litellm[proxy]')")
    return found


def _proxy(args: argparse.Namespace) -> int:
    proxy_args = list(args.proxy_args)
    if proxy_args and proxy_args[0] == "--":
        proxy_args = proxy_args[1:]
    fast_lane = "--no-fast-lane" not in proxy_args and os.environ.get("FAST_LITELLM_FAST_LANE", "1") != "0"
    proxy_args = [a for a in proxy_args if a != "--no-fast-lane"]
    if any(a in ("--help", "-h", "--version", "-v", "--test", "--health") for a in proxy_args):
        fast_lane = False  # one-shot commands of the litellm CLI: no server to front
    env = launcher_env()
    _metrics.prepare_launch(env, cleanup=_launch_files(env))  # one Prometheus multiprocess dir for every worker
    builtin = not any(a == "--config" or a.startswith("--config=") or a == "-c" for a in proxy_args)
    if builtin:
        # The built-in config: no network, no provider keys. Its fast-lane group calls a tiny local
        # OpenAI-shaped upstream (a thread of this process), its other group LiteLLM's mock_response.
        from . import quickstart_upstream

        _upstream, env["FAST_LITELLM_QUICKSTART_UPSTREAM"] = quickstart_upstream.start()
        env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        if not env.get("LITELLM_MASTER_KEY"):
            env["LITELLM_MASTER_KEY"] = "sk-fast-litellm-" + secrets.token_hex(24)
        proxy_args = ["--config", str(DEFAULT_CONFIG)] + proxy_args
        port = _arg_value(proxy_args, "--port") or "4000"
        host = _arg_value(proxy_args, "--host") or "0.0.0.0"
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        key = env["LITELLM_MASTER_KEY"]
        print(
            "fast-litellm: starting the accelerated LiteLLM proxy on the built-in default config\n"
            f"  URL:  http://{shown}:{port}\n"
            f"  key:  {key}\n"
            "  try:\n"
            f"    curl -s http://{shown}:{port}/v1/chat/completions \\\n"
            f"      -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
            "      -d '{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'\n"
            + ("  model gpt-4o-mini: served by the Rust fast lane (a local mock upstream: "
               f"{env['FAST_LITELLM_QUICKSTART_UPSTREAM']}), header x-fast-litellm-lane: rust\n"
               "  model gpt-4o:      served by LiteLLM (its mock_response), header x-fast-litellm-lane: python\n"
               if fast_lane else "  fast lane off: LiteLLM serves every request\n"),
            flush=True,
        )
    if fast_lane:
        from .fastlane import launcher

        return launcher.run(proxy_args, env, _litellm_cli())
    if builtin:  # the quickstart upstream lives in this process: run LiteLLM as a child, not exec
        import subprocess

        proc = subprocess.Popen([_litellm_cli()] + proxy_args, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            return proc.wait()
    return _exec([_litellm_cli()] + proxy_args, env)


def _arg_value(argv: List[str], name: str) -> Optional[str]:
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


# -- bench ----------------------------------------------------------------------


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    results = bench.run_all(rounds=args.rounds, only=args.only, quick=args.quick)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(bench.format_table(results))
    return 0


# -- audit ------------------------------------------------------------------------


def _audit(args: argparse.Namespace) -> int:
    from . import audit

    return audit.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fast-litellm", description="Rust acceleration for LiteLLM.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("doctor", help="what is accelerated, what was skipped and why")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-v", "--verbose", action="store_true", help="list every place a patch is installed")
    p.add_argument("--coverage", action="store_true",
                   help="also compute each component's native coverage (share of the price map, models, shapes) "
                   f"on a sample (every {COVERAGE_SAMPLE_EVERY}th price-map entry; a few seconds)")
    p.add_argument("--coverage-full", action="store_true",
                   help="--coverage over every price-map entry (about a minute)")
    p.add_argument("--no-cache", action="store_true",
                   help="compute --coverage again even if the same LiteLLM, price map and fast_litellm "
                        "were measured before (results are kept in ~/.cache/fast-litellm/coverage)")
    p.add_argument("--proxy-config", metavar="CONFIG",
                   help="also say which model groups of this proxy config the Rust fast lane serves")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("run", help="run COMMAND with acceleration in it and every Python child process")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=_run)

    p = sub.add_parser("proxy", help="the LiteLLM proxy (same arguments as `litellm`), accelerated; "
                                     "a Rust fast lane fronts it unless --no-fast-lane")
    p.add_argument("proxy_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_proxy)

    p = sub.add_parser("bench", help="stock vs accelerated, alternated in one process")
    p.add_argument("--json", action="store_true")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--only", action="append", help="run only benchmarks whose name contains this")
    p.add_argument("--quick", action="store_true", help="fewer iterations (smoke test)")
    p.set_defaults(func=_bench)

    try:
        from . import audit
    except ImportError:
        audit = None  # type: ignore[assignment]
    if audit is not None:
        p = sub.add_parser("audit", help="supply-chain check of the installed LiteLLM")
        audit.add_arguments(p)
        p.set_defaults(func=_audit)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    # `proxy`/`run` pass their arguments through untouched (argparse would eat `--help` etc.).
    if argv and argv[0] in ("proxy", "run"):
        ns = argparse.Namespace(proxy_args=argv[1:], command=argv[1:])
        return _proxy(ns) if argv[0] == "proxy" else _run(ns)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
