"""The published ``RECORD`` of LiteLLM's release wheels, and how an install compares.

A wheel's ``*.dist-info/RECORD`` lists every file with its sha256 and size.
``fast-litellm audit`` already checks that installed files match the installed
``RECORD``; but a malicious wheel carries a ``RECORD`` that matches its own files
(1.82.7's payload sat in ``proxy_server.py``), so that check alone passes it.
``data/litellm_records.json`` (made by ``scripts/make-litellm-record-manifest.py``
from PyPI's wheels) holds, for every release wheel in a version range, the sha256
of its ``RECORD`` and a digest of the entries an installer keeps, so the installed
``RECORD`` can be compared with the published one offline.

What an installer changes: pip (and uv) copy each row of the wheel's ``RECORD``
(path, hash, size) into the installed one, and add rows of their own: the
``.dist-info`` files ``INSTALLER``, ``REQUESTED`` and ``direct_url.json``, console
scripts and ``.data/scripts`` outside site-packages (paths starting ``../``), and
the ``__pycache__`` bytecode they compile (no hash). ``.data/purelib`` and
``.data/platlib`` files land at the top of site-packages. The comparable set is
therefore the wheel's rows minus ``RECORD`` itself and ``.data`` files installed
outside site-packages, against the installed rows minus the installer's own.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Dict, Iterable, List, Optional, Tuple

MANIFEST_FILE = "litellm_records.json"

# .dist-info files an installer writes (PEP 376 INSTALLER/REQUESTED, PEP 610 direct_url.json)
_INSTALLER_FILES = {"INSTALLER", "REQUESTED", "direct_url.json"}
_SIGNATURE_FILES = {"RECORD", "RECORD.jws", "RECORD.p7s"}
_SITE_SCHEMES = {"purelib", "platlib"}

Row = Tuple[str, str, str]


def record_rows(data: bytes) -> List[Row]:
    """(path, hash field, size field) of each non-empty row of a RECORD file."""
    out = []
    for fields in csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline="")):
        n = len(fields)
        if n >= 3 and fields[0]:
            out.append((fields[0], fields[1].strip(), fields[2].strip()))
        elif n and fields[0]:
            out.append((fields[0], fields[1].strip() if n > 1 else "", ""))
    return out


def _dist_info_file(path: str) -> Optional[str]:
    """The file name when ``path`` is directly inside a top-level ``*.dist-info``."""
    parts = path.split("/")
    if len(parts) == 2 and parts[0].endswith(".dist-info"):
        return parts[1]
    return None


def published_entries(rows: Iterable[Row]) -> List[Row]:
    """The rows of a wheel's own RECORD that an installer copies into site-packages."""
    out = []
    for path, digest, size in rows:
        if _dist_info_file(path) in _SIGNATURE_FILES:
            continue
        parts = path.split("/", 2)
        if parts[0].endswith(".data"):
            if len(parts) < 3 or parts[1] not in _SITE_SCHEMES:
                continue  # scripts, headers, data: installed outside site-packages
            path = parts[2]
        out.append((path, digest, size))
    return out


def installed_entries(rows: Iterable[Row]) -> List[Row]:
    """The rows of an installed RECORD that came from the wheel (the installer's own dropped)."""
    out = []
    for path, digest, size in rows:
        if ".dist-info/" in path:
            name = _dist_info_file(path)
            if name in _SIGNATURE_FILES or name in _INSTALLER_FILES:
                continue
        if path.startswith(("../", "/")) or (len(path) > 1 and path[1] == ":"):
            continue  # console scripts and other files outside site-packages
        if not digest and path.endswith(".pyc") and "/__pycache__/" in f"/{path}":
            continue  # bytecode compiled at install
        out.append((path, digest, size))
    return out


def entries_digest(entries: Iterable[Row]) -> str:
    """Order-independent sha256 over the rows (an installer may reorder them)."""
    text = "".join(f"{path}\0{digest}\0{size}\n" for path, digest, size in sorted(set(entries)))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def wheel_fingerprint(record: bytes) -> Dict[str, object]:
    """What the manifest stores for one wheel's RECORD."""
    entries = published_entries(record_rows(record))
    return {"record_sha256": hashlib.sha256(record).hexdigest(), "files_sha256": entries_digest(entries),
            "files": len(set(entries))}


def installed_fingerprint(record: bytes) -> Dict[str, object]:
    entries = installed_entries(record_rows(record))
    return {"record_sha256": hashlib.sha256(record).hexdigest(), "files_sha256": entries_digest(entries),
            "files": len(set(entries))}


def version_key(version: str):
    """PEP 440 version (``packaging`` ships with pip and LiteLLM), or None when unparsable or absent."""
    try:
        from packaging.version import Version

        return Version(version)
    except Exception:
        return None


def compare(manifest: Dict[str, object], version: str, record: bytes) -> Tuple[str, Dict[str, object]]:
    """How an installed ``RECORD`` of LiteLLM ``version`` compares with the manifest.

    Returns (state, detail) with state one of ``published`` (matches a published
    wheel), ``differs`` (the version is published; this RECORD is none of its
    wheels'), ``deleted`` (known to have been removed from the registry),
    ``unpublished`` (inside the manifest's range, but the registry has no wheel),
    ``not_in_manifest`` (outside the range: not checked)."""
    versions: Dict[str, dict] = manifest["versions"]  # type: ignore[assignment]
    deleted: Dict[str, str] = manifest.get("deleted", {})  # type: ignore[assignment]
    key = version_key(version)
    canon = str(key) if key is not None else version.strip()
    if canon in deleted:
        return "deleted", {"note": deleted[canon]}
    entry = versions.get(canon)
    if entry is None:
        low, high = (version_key(v) for v in manifest["range"])  # type: ignore[index]
        if key is not None and low is not None and high is not None and low <= key <= high and not key.local:
            return "unpublished", {"range": manifest["range"]}
        return "not_in_manifest", {"range": manifest["range"]}
    mine = installed_fingerprint(record)
    for wheel in entry["wheels"]:
        if mine["record_sha256"] == wheel["record_sha256"] or mine["files_sha256"] == wheel["files_sha256"]:
            return "published", {"wheel": wheel["filename"], **({"yanked": entry["yanked"]} if entry.get("yanked")
                                                                 else {})}
    return "differs", {"files": mine["files"], "published_files": sorted({w["files"] for w in entry["wheels"]}),
                       "wheels": len(entry["wheels"])}
