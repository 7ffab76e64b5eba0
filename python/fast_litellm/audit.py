"""``fast-litellm audit``: an offline supply-chain check of the installed LiteLLM.

What it checks (never touching the network, never importing ``litellm``):

1. **RECORD verification** of ``litellm`` and ``fast-litellm`` (``--dist`` to
   name others, ``--all`` for every distribution): each file the wheel's
   ``RECORD`` lists is hashed and compared with the recorded digest and size;
   missing and modified files are findings. Inside the distribution's top-level
   package directories, files no ``RECORD`` in that directory lists are findings,
   except ``__pycache__/<module>.*.pyc`` whose ``<module>.py`` exists (written by
   the interpreter after install: counted as info). A ``__pycache__`` ``.pyc``
   without its source is an ``orphan_bytecode`` finding.
2. **Known-compromised releases** (``data/compromised.json``, each entry with its
   public source: litellm 1.82.7/1.82.8 in March 2026, 1.107.0 in October 2026):
   any installed copy is a critical finding, as is a ``.pth`` file whose sha256 is
   a known-malicious file, a payload file named in ``site_files`` (``cook.pth``,
   ``cook.py``, ``litellm_init.pth``...) in any site-packages directory of this
   interpreter or of the host, and a ``host_markers`` path (``/tmp/...``, ``~/...``;
   under ``--host-root``/``--home`` when given).
3. **Published RECORD** (``data/litellm_records.json``, see
   :mod:`fast_litellm.published_records`): each litellm copy's installed RECORD
   must be that of a wheel PyPI published for its version; a deleted or never
   published version in the manifest's range is a finding, a version outside it
   is info.
4. **Start-up code**: every ``.pth`` line that ``site.py`` executes (``import ...``)
   on the site directories, with the file, its owning distribution (from RECORD)
   or "unowned", and the line. Lines matching ``data/pth_allowlist.json`` (by
   content, and by owner where the entry demands one) are info; everything else
   is a finding. ``sitecustomize``/``usercustomize`` modules (or their
   ``__pycache__`` bytecode) in any site-packages directory are findings too.

Exit codes: 0 clean, 1 findings, 2 could not check (and no findings). The file
work runs in the Rust core (``fast_litellm._native``), in parallel, with the GIL
released; a pure-Python implementation of the same checks is kept as a fallback
(and as the benchmark baseline).
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import glob
import hashlib
import json
import os
import re
import site
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import published_records

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_TARGETS = ("litellm", "fast-litellm")
REQUIRED_DEFAULT = ("litellm",)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

_STARTUP_MODULES = ("sitecustomize", "usercustomize")


def normalize_name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def load_data(name: str) -> Dict[str, Any]:
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


# -- the file work: native, with a pure-Python twin ---------------------------------


def _native():
    try:
        from . import _native

        if hasattr(_native, "audit_base"):
            return _native
    except Exception:  # pragma: no cover - reported by `doctor`
        pass
    return None


def _split_csv(line: str) -> List[str]:
    import csv

    return next(csv.reader([line]))


def py_parse_record(text: str) -> List[Tuple[str, Optional[Tuple[str, str]], Optional[str], Optional[int]]]:
    out = []
    for raw in text.split("\n"):
        raw = raw[:-1] if raw.endswith("\r") else raw
        if not raw.strip():
            continue
        fields = _split_csv(raw)
        path = fields[0]
        if not path:
            continue
        hash_field = fields[1].strip() if len(fields) > 1 else ""
        h, bad = None, None
        if hash_field:
            algo, sep, digest = hash_field.partition("=")
            digest = digest.rstrip("=")
            if sep and algo and digest:
                h = (algo.lower(), digest)
            else:
                bad = hash_field
        size = None
        if len(fields) > 2:
            try:
                size = int(fields[2].strip())
            except ValueError:
                size = None
        out.append((path, h, bad, size))
    return out


def _norm(base: str, rel: str) -> str:
    return os.path.normpath(os.path.join(base, rel))


def _metadata_header(dist_info: str) -> Tuple[Optional[str], Optional[str]]:
    for fname in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(dist_info, fname), "rb") as fh:
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        name = version = None
        for line in text.splitlines():
            if not line:
                break
            key, sep, value = line.partition(":")
            if not sep:
                continue
            key = key.strip().lower()
            if key == "name" and name is None:
                name = value.strip()
            elif key == "version" and version is None:
                version = value.strip()
        return name, version
    return None, None


def py_list_distributions(base: str) -> List[Tuple[str, Optional[str], Optional[str], Optional[str]]]:
    out = []
    for entry in sorted(os.listdir(base)):
        d = os.path.join(base, entry)
        if not entry.endswith(".dist-info") or not os.path.isdir(d):
            continue
        name, version = _metadata_header(d)
        record = os.path.join(d, "RECORD")
        out.append((d, name, version, record if os.path.isfile(record) else None))
    return out


_HASHERS = {"sha256": hashlib.sha256, "sha224": hashlib.sha224, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def _py_check(base: str, path: str, h, bad, size) -> Tuple[Optional[Dict[str, Any]], int]:
    full = _norm(base, path)
    if bad is not None:
        return {"path": path, "problem": "bad_hash_field", "detail": bad}, 0
    if h is None:
        name = path.rsplit("/", 1)[-1]
        if path.endswith((".pyc", ".pyo")) or name in ("RECORD", "RECORD.jws", "RECORD.p7s"):
            return None, 0
        if not os.path.lexists(full):
            return {"path": path, "problem": "missing"}, 0
        return {"path": path, "problem": "no_hash"}, 0
    algo, expected = h
    if algo not in _HASHERS:
        return {"path": path, "problem": "unsupported_algorithm", "algorithm": algo}, 0
    try:
        with open(full, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return {"path": path, "problem": "missing"}, 0
    except OSError as exc:
        return {"path": path, "problem": "unreadable", "detail": str(exc)}, 0
    actual = base64.urlsafe_b64encode(_HASHERS[algo](data).digest()).rstrip(b"=").decode("ascii")
    if actual != expected:
        return {"path": path, "problem": "modified", "algorithm": algo, "expected": expected, "actual": actual,
                "expected_size": size, "actual_size": len(data)}, len(data)
    if size is not None and size != len(data):
        return {"path": path, "problem": "size_mismatch", "expected_size": size, "actual_size": len(data)}, len(data)
    return None, len(data)


def _py_classify(rel: str, full: str) -> str:
    parts = rel.rsplit("/", 2)
    name = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    if parent == "__pycache__" and name.endswith((".pyc", ".pyo")):
        module = name.split(".", 1)[0]
        if module and os.path.isfile(os.path.join(os.path.dirname(os.path.dirname(full)), module + ".py")):
            return "cached_bytecode"
        return "orphan_bytecode"
    return "unlisted"


def py_scan_pth_text(text: str) -> Tuple[List[Tuple[int, str]], List[str]]:
    if text.startswith("\ufeff"):
        text = text[1:]
    exec_lines, path_lines = [], []
    for i, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith(("import ", "import\t")):
            exec_lines.append((i, line))
        else:
            path_lines.append(line.rstrip())
    return exec_lines, path_lines


def py_audit_base(base: str, targets: Sequence[str], scan_pth: bool = True) -> Dict[str, Any]:
    """Pure-Python equivalent of ``_native.audit_base`` (fallback and benchmark baseline)."""
    base = os.path.normpath(base)
    records = [r for (_, _, _, r) in py_list_distributions(base) if r]
    parsed: Dict[str, Any] = {}
    owned: Dict[str, str] = {}
    record_errors = []
    for rec in records:
        try:
            with open(rec, "rb") as fh:
                parsed[rec] = py_parse_record(fh.read().decode("utf-8", "replace"))
        except OSError as exc:
            record_errors.append((rec, str(exc)))
            continue
        for path, _, _, _ in parsed[rec]:
            owned.setdefault(_norm(base, path), rec)
    dists = []
    for rec in targets:
        d: Dict[str, Any] = {"record": rec, "entries": 0, "verified": 0, "bytes": 0, "error": None,
                             "package_dirs": [], "issues": [], "unlisted": []}
        entries = parsed.get(rec)
        if entries is None:
            try:
                with open(rec, "rb") as fh:
                    entries = py_parse_record(fh.read().decode("utf-8", "replace"))
            except OSError as exc:
                d["error"] = str(exc)
                dists.append(d)
                continue
        d["entries"] = len(entries)
        for path, h, bad, size in entries:
            issue, nbytes = _py_check(base, path, h, bad, size)
            d["bytes"] += nbytes
            if issue is None:
                d["verified"] += h is not None
            else:
                d["issues"].append(issue)
        tops = sorted({p.split("/", 1)[0] for p, _, _, _ in entries
                       if "/" in p and not p.startswith(("..", "/"))} - {"__pycache__", ".", ""})
        tops = [t for t in tops if os.path.isdir(os.path.join(base, t))]
        for top in tops:
            for root, dirnames, files in os.walk(os.path.join(base, top)):
                for f in files:
                    full = os.path.join(root, f)
                    if full not in owned:
                        rel = os.path.relpath(full, base).replace(os.sep, "/")
                        d["unlisted"].append((rel, _py_classify(rel, full)))
        d["unlisted"].sort()
        d["package_dirs"] = tops
        dists.append(d)
    pths = []
    if scan_pth:
        for name in sorted(os.listdir(base)):
            full = os.path.join(base, name)
            if not name.endswith(".pth") or os.path.isdir(full):
                continue
            item: Dict[str, Any] = {"path": full, "sha256": "", "size": 0, "owner_record": owned.get(full),
                                    "exec_lines": [], "path_lines": [], "error": None}
            try:
                with open(full, "rb") as fh:
                    data = fh.read()
                item["sha256"] = hashlib.sha256(data).hexdigest()
                item["size"] = len(data)
                item["exec_lines"], item["path_lines"] = py_scan_pth_text(data.decode("utf-8", "replace"))
            except OSError as exc:
                item["error"] = str(exc)
            pths.append(item)
    return {"base": base, "dists": dists, "pth": pths, "record_errors": record_errors}


def _engine(prefer_native: bool = True):
    native = _native() if prefer_native else None
    if native is not None:
        return "rust", native.audit_list_distributions, native.audit_base
    return "python", py_list_distributions, py_audit_base


# -- where to look ------------------------------------------------------------------


def site_dirs() -> List[str]:
    """The directories whose ``.pth`` files this interpreter processes at start."""
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return _dedupe(d for d in dirs if os.path.isdir(d))


def _dedupe(dirs: Iterable[str]) -> List[str]:
    seen, out = set(), []
    for d in dirs:
        key = os.path.realpath(d)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _search_dirs(paths: Optional[Sequence[str]]) -> Tuple[List[str], List[str], List[Dict[str, Any]]]:
    """(directories searched for distributions in import order, site dirs, errors)."""
    errors: List[Dict[str, Any]] = []
    if paths:
        ok = []
        for p in paths:
            if os.path.isdir(p):
                ok.append(os.path.abspath(p))
            else:
                errors.append({"kind": "path_not_found", "path": p, "message": f"{p}: not a directory"})
        ok = _dedupe(ok)
        return ok, ok, errors  # with --path, every given directory counts as a site directory
    sites = site_dirs()
    search = [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]
    search = _dedupe(search + sites)
    return search, sites, errors


# -- the audit ----------------------------------------------------------------------------


def _finding(severity: str, kind: str, message: str, **extra: Any) -> Dict[str, Any]:
    out = {"severity": severity, "kind": kind, "message": message}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _version_key(v: Optional[str]):
    if v is None:
        return None
    try:
        from packaging.version import Version

        return str(Version(v))
    except Exception:
        return v.strip()


def _allowlisted(line: str, owner: Optional[str], allowlist: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    text = line.rstrip()
    for entry in allowlist:
        if not re.fullmatch(entry["pattern"], text):
            continue
        need = entry.get("owner")
        if need == "any" and owner is None:
            continue
        if isinstance(need, list) and (owner is None or normalize_name(owner) not in {normalize_name(n) for n in need}):
            continue
        return entry
    return None


_ISSUE_SEVERITY = {"modified": "high", "missing": "medium", "size_mismatch": "medium", "no_hash": "medium",
                   "bad_hash_field": "medium", "unsupported_algorithm": "medium"}


def _describe_issue(issue: Dict[str, Any]) -> str:
    p = issue["problem"]
    if p == "modified":
        return (f"content differs from RECORD ({issue['algorithm']} {issue['actual']} != {issue['expected']}, "
                f"size {issue['actual_size']} vs {issue.get('expected_size')})")
    if p == "missing":
        return "listed in RECORD but missing"
    if p == "size_mismatch":
        return f"size {issue['actual_size']} != {issue['expected_size']} recorded"
    if p == "no_hash":
        return "listed in RECORD without a hash (cannot be verified)"
    if p == "bad_hash_field":
        return f"unparsable hash field {issue.get('detail')!r}"
    if p == "unsupported_algorithm":
        return f"hash algorithm {issue.get('algorithm')!r} is not accepted for wheels"
    return f"{p}: {issue.get('detail', '')}"


def run_audit(paths: Optional[Sequence[str]] = None, dists: Optional[Sequence[str]] = None,
              all_dists: bool = False, allow_sha256: Sequence[str] = (), engine: str = "auto",
              host_root: Optional[str] = None, home: Optional[str] = None) -> Dict[str, Any]:
    """Run every check and return the report (see :func:`main` for the exit code).

    ``host_root``/``home`` relocate the host-wide checks (markers, other site-packages
    directories) for an image mounted elsewhere, or for tests; by default ``/`` and
    the user's home directory."""
    start = time.perf_counter()
    engine_name, list_dists, audit_base = _engine(prefer_native=(engine != "python"))
    findings: List[Dict[str, Any]] = []
    info: List[Dict[str, Any]] = []
    search, sites, errors = _search_dirs(paths)
    compromised = load_data("compromised.json")
    allowlist = load_data("pth_allowlist.json")["entries"]
    allow_sha = {s.lower() for s in allow_sha256}

    # Every distribution in every searched directory, in import order.
    found: List[Dict[str, Any]] = []
    for d in search:
        try:
            rows = list_dists(d)
        except OSError as exc:
            errors.append({"kind": "unreadable_dir", "path": d, "message": str(exc)})
            continue
        for dist_info, name, version, record in rows:
            if name is None:  # fall back on the directory name: name-version.dist-info
                stem = os.path.basename(dist_info)[: -len(".dist-info")]
                name, _, v = stem.partition("-")
                version = version or v or None
            found.append({"name": name, "key": normalize_name(name), "version": version,
                          "dist_info": dist_info, "record": record, "base": d})
    owner_of_record = {f["record"]: f["name"] for f in found if f["record"]}

    # 2. known-compromised releases: every copy counts, shadowed or not.
    bad_releases = {}
    for rel in compromised.get("releases", []):
        for v in rel["versions"]:
            bad_releases[(normalize_name(rel["name"]), _version_key(v))] = rel
    for f in found:
        rel = bad_releases.get((f["key"], _version_key(f["version"])))
        if rel is not None:
            findings.append(_finding(
                "critical", "compromised_release",
                f"{f['name']} {f['version']} is a known-compromised release: {rel['summary']}",
                dist=f["name"], version=f["version"], path=f["dist_info"], sources=rel.get("sources")))

    # 3. litellm copies against the published RECORD of their version's wheels.
    published = _published_records(found, findings, info, errors)

    # Which distributions to verify: the first copy of each name (the one imports use).
    active: Dict[str, Dict[str, Any]] = {}
    for f in found:
        if f["key"] in active:
            info.append(_finding("info", "shadowed_copy",
                                 f"{f['name']} {f['version']} at {f['base']} is shadowed by the copy at "
                                 f"{active[f['key']]['base']} (not verified; still checked against the "
                                 "compromised list)", dist=f["name"], path=f["dist_info"]))
        else:
            active[f["key"]] = f
    if all_dists:
        wanted, required = list(active), set()
    elif dists:
        wanted = [normalize_name(n) for n in dists]
        required = set(wanted)
    else:
        wanted, required = list(DEFAULT_TARGETS), set(REQUIRED_DEFAULT)
    targets: List[Dict[str, Any]] = []
    for key in dict.fromkeys(wanted):
        f = active.get(key)
        if f is None:
            entry = {"kind": "not_installed", "dist": key,
                     "message": f"{key} is not installed in the searched directories"}
            if key in required:
                errors.append(entry)
            else:
                info.append(_finding("info", **entry))
        elif f["record"] is None:
            errors.append({"kind": "no_record", "dist": f["name"], "path": f["dist_info"],
                           "message": f"{f['name']} {f['version']} has no RECORD file: cannot verify its files"})
        else:
            targets.append(f)

    # 1 + 4: one native call per directory (RECORD checks, unlisted files, .pth scan).
    site_keys = {os.path.realpath(s) for s in sites}
    dist_reports: List[Dict[str, Any]] = []
    by_base: Dict[str, List[Dict[str, Any]]] = {}
    for t in targets:
        by_base.setdefault(t["base"], []).append(t)
    for base in _dedupe(list(by_base) + list(sites)):
        is_site = os.path.realpath(base) in site_keys
        here = by_base.get(base, [])
        report = audit_base(base, [t["record"] for t in here], is_site)
        for rec, msg in report["record_errors"]:
            errors.append({"kind": "unreadable_record", "path": rec,
                           "message": f"{rec}: {msg} (file ownership in {base} may be incomplete)"})
        for t, d in zip(here, report["dists"]):
            dist_reports.append(dict(_dist_result(t, d, findings, info, errors),
                                     **({"published_record": published[t["record"]]} if t["record"] in published
                                        else {})))
        if is_site:
            _pth_results(base, report["pth"], owner_of_record, allowlist, allow_sha, compromised, findings, info,
                         errors)

    # 2c + 4. start-up modules and known payload files in every site-packages directory
    # (this interpreter's and the host's), and the host markers the payloads leave.
    root = os.path.abspath(host_root or os.sep)
    home = home or os.path.join(root, os.path.expanduser("~").lstrip(os.sep))
    site_like = [d for d in search if os.path.basename(os.path.normpath(d)) in _SITE_DIR_NAMES]
    for base in _dedupe(list(sites) + site_like + _host_site_dirs(root, home, with_interpreter=host_root is None)):
        _startup_modules(base, findings)
        _site_file_indicators(base, compromised.get("site_files", []), findings)
    _host_markers(compromised.get("host_markers", []), root, home, findings)

    if findings:
        code = EXIT_FINDINGS
    elif errors:
        code = EXIT_ERROR
    else:
        code = EXIT_CLEAN
    return {
        "tool": "fast-litellm audit",
        "status": {EXIT_CLEAN: "clean", EXIT_FINDINGS: "findings", EXIT_ERROR: "error"}[code],
        "exit_code": code,
        "engine": engine_name,
        "python": sys.executable,
        "searched": search,
        "site_dirs": sites,
        "distributions_found": len(found),
        "distributions": dist_reports,
        "findings": findings,
        "errors": errors,
        "info": info,
        "elapsed_seconds": round(time.perf_counter() - start, 4),
    }


# LiteLLM's proxy, on start, moves each exported UI page ``<route>.html`` under
# ``litellm/proxy/_experimental/out`` to ``<route>/index.html`` inside its own
# package directory (``_restructure_ui_html_files`` in ``proxy_server.py``) unless
# ``LITELLM_UI_PATH`` points elsewhere. A page moved that way, with its content
# still matching RECORD, is reported as info rather than missing + unlisted.
_LITELLM_UI_PAGE = re.compile(r"(litellm/proxy/_experimental/out/(?!_next/|litellm-asset-prefix/)(?:.+/)?"
                              r"(?!index\.html$)[^/]+)\.html")


def _litellm_ui_relocations(t, d) -> Tuple[set, set]:
    """(missing RECORD paths, unlisted paths) explained by the proxy's UI restructuring."""
    if t["key"] != "litellm":
        return set(), set()
    unlisted = {rel for rel, kind in d["unlisted"] if kind == "unlisted"}
    candidates = {}
    for issue in d["issues"]:
        m = _LITELLM_UI_PAGE.fullmatch(issue["path"]) if issue["problem"] == "missing" else None
        if m and f"{m.group(1)}/index.html" in unlisted:
            candidates[issue["path"]] = f"{m.group(1)}/index.html"
    if not candidates:
        return set(), set()
    with open(t["record"], "rb") as fh:
        text = fh.read().decode("utf-8", "replace")
    # only the candidates' rows (their paths need no CSV quoting)
    rows = "\n".join(line for line in text.split("\n") if line.split(",", 1)[0] in candidates)
    expected = {p: h for p, h, _, _ in py_parse_record(rows)}
    moved, targets = set(), set()
    for src, dst in candidates.items():
        h = expected.get(src)
        if h is None or h[0] not in _HASHERS:
            continue
        try:
            with open(_norm(t["base"], dst), "rb") as fh:
                digest = _HASHERS[h[0]](fh.read()).digest()
        except OSError:
            continue
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") == h[1]:
            moved.add(src)
            targets.add(dst)
    return moved, targets


def _dist_result(t, d, findings, info, errors) -> Dict[str, Any]:
    name = t["name"]
    moved, moved_to = _litellm_ui_relocations(t, d)
    if moved:
        info.append(_finding("info", "litellm_ui_relocated",
                             f"{name}: {len(moved)} UI page(s) under litellm/proxy/_experimental/out were moved to "
                             "<route>/index.html by the LiteLLM proxy at start-up; content matches RECORD",
                             dist=name, paths=sorted(moved)))
        d = dict(d, issues=[i for i in d["issues"] if i["path"] not in moved],
                 unlisted=[u for u in d["unlisted"] if u[0] not in moved_to])
    if d["error"]:
        errors.append({"kind": "unreadable_record", "dist": name, "path": t["record"], "message": d["error"]})
    for issue in d["issues"]:
        if issue["problem"] == "unreadable":
            errors.append({"kind": "unreadable_file", "dist": name, "path": issue["path"],
                           "message": f"{issue['path']}: {issue.get('detail')}"})
            continue
        findings.append(_finding(_ISSUE_SEVERITY.get(issue["problem"], "medium"), issue["problem"],
                                 f"{issue['path']}: {_describe_issue(issue)}", dist=name,
                                 path=issue["path"], detail={k: v for k, v in issue.items()
                                                             if k not in ("path", "problem")} or None))
    cached = 0
    for rel, kind in d["unlisted"]:
        if kind == "cached_bytecode":
            cached += 1
        elif kind == "orphan_bytecode":
            findings.append(_finding("medium", "orphan_bytecode",
                                     f"{rel}: bytecode not listed in any RECORD and with no source beside it",
                                     dist=name, path=rel))
        else:
            findings.append(_finding("medium", "unlisted",
                                     f"{rel}: inside {name}'s package directories but listed in no RECORD",
                                     dist=name, path=rel))
    if cached:
        info.append(_finding("info", "cached_bytecode",
                             f"{name}: {cached} __pycache__ file(s) written after install (source present)",
                             dist=name))
    return {"name": name, "version": t["version"], "base": t["base"], "record": t["record"],
            "entries": d["entries"], "verified": d["verified"], "bytes": d["bytes"],
            "issues": len(d["issues"]), "unlisted": sum(1 for _, k in d["unlisted"] if k != "cached_bytecode"),
            "cached_bytecode": cached, "package_dirs": d["package_dirs"]}


def _pth_results(base, pths, owner_of_record, allowlist, allow_sha, compromised, findings, info, errors) -> None:
    bad_files = {f["sha256"].lower(): f for f in compromised.get("files", [])}
    for p in pths:
        path = p["path"]
        owner = owner_of_record.get(p["owner_record"]) if p["owner_record"] else None
        owner_label = owner or "unowned"
        if p["error"]:
            errors.append({"kind": "unreadable_pth", "path": path, "message": f"{path}: {p['error']}"})
            continue
        known = bad_files.get(p["sha256"])
        if known is not None:
            findings.append(_finding("critical", "known_bad_file",
                                     f"{path} ({owner_label}) is {known['name']}: {known['summary']}",
                                     path=path, owner=owner_label, sha256=p["sha256"], sources=known.get("sources")))
        user_ok = p["sha256"] in allow_sha
        for lineno, line in p["exec_lines"]:
            entry = _allowlisted(line, owner, allowlist)
            where = f"{path}:{lineno} ({owner_label})"
            if entry is not None:
                info.append(_finding("info", "pth_allowlisted", f"{where}: known benign: {entry['description']}",
                                     path=path, owner=owner_label, line_number=lineno, line=line,
                                     allowlist_id=entry["id"]))
            elif user_ok:
                info.append(_finding("info", "pth_allowed_by_user", f"{where}: allowed by --allow {p['sha256']}",
                                     path=path, owner=owner_label, line_number=lineno, line=line))
            elif known is None:
                findings.append(_finding("high", "pth_exec",
                                         f"{where}: runs code at every interpreter start: {_clip(line)}",
                                         path=path, owner=owner_label, line_number=lineno, line=line,
                                         sha256=p["sha256"]))


def _listdir(path: str) -> List[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _startup_modules(base, findings) -> None:
    """``sitecustomize``/``usercustomize`` in a site dir are imported at start (and their
    ``__pycache__`` bytecode shows one was there and ran, even once the source is gone).
    Ours lives only on the launcher's PYTHONPATH, never in a site-packages directory."""
    for name in _listdir(base):
        stem = name.split(".", 1)[0]
        if stem in _STARTUP_MODULES and (name == stem or name.endswith((".py", ".pyc")) or ".so" in name
                                         or name.endswith(".pyd")):
            findings.append(_finding("high", "startup_module",
                                     f"{os.path.join(base, name)}: Python imports {stem} at every interpreter "
                                     "start (litellm 1.107.0's payload installed a sitecustomize.py)",
                                     path=os.path.join(base, name)))
    cache = os.path.join(base, "__pycache__")
    for name in _listdir(cache):
        stem = name.split(".", 1)[0]
        if stem in _STARTUP_MODULES and name.endswith(".pyc"):
            findings.append(_finding("high", "startup_module",
                                     f"{os.path.join(cache, name)}: bytecode of a {stem} module in a site "
                                     "directory: one was imported here at interpreter start",
                                     path=os.path.join(cache, name)))


# -- indicators of known compromises -----------------------------------------------------

_SITE_DIR_NAMES = ("site-packages", "dist-packages")
# Where interpreters other than this one keep their site directories (relative to the
# host root, or to the home directory); other virtualenvs: audit them with --path.
_HOST_SITE_GLOBS = ("usr/lib/python3*/site-packages", "usr/lib/python3*/dist-packages", "usr/lib/python3/dist-packages",
                    "usr/local/lib/python3*/site-packages", "usr/local/lib/python3*/dist-packages",
                    "opt/*/lib/python3*/site-packages")
_HOME_SITE_GLOBS = (".local/lib/python3*/site-packages",)


def _host_site_dirs(root: str, home: str, with_interpreter: bool) -> List[str]:
    found = [d for pattern in _HOST_SITE_GLOBS for d in sorted(glob.glob(os.path.join(root, pattern)))]
    found += [d for pattern in _HOME_SITE_GLOBS for d in sorted(glob.glob(os.path.join(home, pattern)))]
    if with_interpreter:
        found += site_dirs()
    return [d for d in found if os.path.isdir(d)]


def _site_file_indicators(base: str, site_files: List[Dict[str, Any]], findings) -> None:
    """Files a known payload writes into site-packages, matched by name (their content varies)."""
    names = _listdir(base) + ["__pycache__/" + n for n in _listdir(os.path.join(base, "__pycache__"))]
    known = {f["path"] for f in findings if f["kind"] == "known_bad_file"}  # already named by its sha256
    for entry in site_files:
        for name in fnmatch.filter(names, entry["pattern"]):
            path = os.path.join(base, name)
            if path in known:
                continue
            findings.append(_finding("critical", "compromise_indicator",
                                     f"{path}: {entry['summary']} ({entry['release']})", path=path,
                                     release=entry["release"], sources=entry.get("sources")))


def _host_markers(markers: List[Dict[str, Any]], root: str, home: str, findings) -> None:
    for entry in markers:
        rel = entry["path"]
        path = os.path.join(home, rel[2:]) if rel.startswith("~/") else os.path.join(root, rel.lstrip("/"))
        if os.path.lexists(path.rstrip("/") or path):
            findings.append(_finding("critical", "host_marker", f"{path} exists: {entry['summary']} "
                                     f"({entry['release']})", path=path, release=entry["release"],
                                     sources=entry.get("sources")))


_PUBLISHED_STATES = {
    "differs": ("high", "record_not_published",
                "{name} {version}: the installed RECORD is not that of any wheel PyPI published for {version} "
                "({files} files against {published_files}): a modified or unofficial wheel, or a local build. "
                "Its files match only this RECORD, which proves nothing; reinstall from PyPI with hashes pinned"),
    "deleted": ("critical", "no_published_wheel",
                "{name} {version} has no published wheel: {note}"),
    "unpublished": ("high", "no_published_wheel",
                    "{name} {version}: PyPI has no such release (deleted, or never published), though it lies "
                    "in the manifest's range {range[0]}..{range[1]}"),
    "published": ("info", "published_record", "{name} {version}: the installed RECORD is that of {wheel}"),
    "not_in_manifest": ("info", "not_in_manifest",
                        "{name} {version} is outside the published-RECORD manifest ({range[0]}..{range[1]}): "
                        "not compared (regenerate with scripts/make-litellm-record-manifest.py)"),
}


_PUBLISHED_LABELS = {"published": "RECORD as published", "differs": "RECORD NOT AS PUBLISHED",
                     "deleted": "RELEASE DELETED FROM PYPI", "unpublished": "RELEASE NEVER ON PYPI",
                     "not_in_manifest": "RECORD not in manifest"}


def _published_records(found, findings, info, errors) -> Dict[str, str]:
    """Compare every litellm copy's RECORD with the shipped manifest; {record path: state}."""
    copies = [f for f in found if f["key"] == "litellm" and f["record"] and f["version"]]
    if not copies:
        return {}
    manifest = load_data(published_records.MANIFEST_FILE)
    states = {}
    for f in copies:
        try:
            with open(f["record"], "rb") as fh:
                record = fh.read()
        except OSError as exc:
            errors.append({"kind": "unreadable_record", "dist": f["name"], "path": f["record"], "message": str(exc)})
            continue
        state, detail = published_records.compare(manifest, f["version"], record)
        severity, kind, text = _PUBLISHED_STATES[state]
        out = _finding(severity, kind, text.format(name=f["name"], version=f["version"], **detail),
                       dist=f["name"], version=f["version"], path=f["record"], **detail)
        (info if severity == "info" else findings).append(out)
        states[f["record"]] = state
    return states


def _clip(line: str, width: int = 160) -> str:
    line = line.strip()
    return line if len(line) <= width else line[: width - 3] + "..."


# -- CLI ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Offline supply-chain check: verify installed files against their wheel RECORD, "
                          "look for known-compromised releases, and list code that runs at interpreter start "
                          "(.pth files). Exit 0 clean, 1 findings, 2 could not check.")
    parser.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    parser.add_argument("--path", action="append", metavar="SITE_PACKAGES",
                        help="audit this directory (repeatable) instead of this interpreter's sys.path/site dirs; "
                             "its .pth files are scanned as a site directory")
    parser.add_argument("--all", action="store_true", dest="all_dists",
                        help="verify every installed distribution, not only litellm and fast-litellm")
    parser.add_argument("--dist", action="append", metavar="NAME",
                        help="verify these distributions (repeatable) instead of litellm and fast-litellm")
    parser.add_argument("--allow", action="append", default=[], metavar="SHA256",
                        help="treat the executable lines of the .pth file with this sha256 as reviewed (info)")
    parser.add_argument("--host-root", metavar="DIR",
                        help="look for the host markers (/tmp/...) and other site-packages directories under DIR "
                             "instead of / (an image or disk mounted elsewhere)")
    parser.add_argument("--home", metavar="DIR",
                        help="home directory for the ~/ markers (default: yours, under --host-root when given)")
    parser.add_argument("--engine", choices=("auto", "python"), default="auto", help=argparse.SUPPRESS)


def format_report(r: Dict[str, Any]) -> str:
    out = [f"fast-litellm audit ({r['engine']} engine, offline): {r['distributions_found']} distribution(s) in "
           f"{len(r['searched'])} director(ies), {len(r['site_dirs'])} site dir(s), {r['elapsed_seconds']:.2f} s"]
    for d in r["distributions"]:
        state = "OK" if not d["issues"] and not d["unlisted"] else f"{d['issues'] + d['unlisted']} problem(s)"
        published = f", {_PUBLISHED_LABELS[d['published_record']]}" if "published_record" in d else ""
        out.append(f"  {d['name']} {d['version']}: {d['verified']} files hashed ({d['bytes'] / 2**20:.1f} MiB) of "
                   f"{d['entries']} RECORD entries: {state}{published}   [{d['base']}]")
    if r["findings"]:
        out.append(f"FINDINGS ({len(r['findings'])}):")
        for f in r["findings"]:
            out.append(f"  [{f['severity']}] {f['kind']}: {f['message']}")
            for s in f.get("sources") or []:
                out.append(f"      source: {s}")
    if r["errors"]:
        out.append(f"COULD NOT CHECK ({len(r['errors'])}):")
        for e in r["errors"]:
            out.append(f"  {e['kind']}: {e['message']}")
    if r["info"]:
        out.append("info:")
        for i in r["info"]:
            out.append(f"  {i['kind']}: {i['message']}")
    verdict = {"clean": "clean", "findings": f"{len(r['findings'])} finding(s)",
               "error": "could not check everything"}[r["status"]]
    out.append(f"result: {verdict} (exit {r['exit_code']})")
    return "\n".join(out)


def main(args: argparse.Namespace) -> int:
    try:
        report = run_audit(paths=args.path, dists=args.dist, all_dists=args.all_dists,
                           allow_sha256=args.allow or (), engine=getattr(args, "engine", "auto"),
                           host_root=getattr(args, "host_root", None), home=getattr(args, "home", None))
    except Exception as exc:  # a bug or an unreadable environment: "could not check"
        if getattr(args, "json", False):
            print(json.dumps({"tool": "fast-litellm audit", "status": "error", "exit_code": EXIT_ERROR,
                              "errors": [{"kind": "internal", "message": repr(exc)}]}, indent=2))
        else:
            print(f"fast-litellm audit: could not check: {exc!r}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return int(report["exit_code"])
