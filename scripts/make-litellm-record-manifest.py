#!/usr/bin/env python3
"""Regenerate python/fast_litellm/data/litellm_records.json from PyPI.

For every LiteLLM release in [--from, --to] (pre-releases included) and every wheel
of it, read the wheel's ``*.dist-info/RECORD`` and store its sha256 and the digest
of the entries an installer keeps (see fast_litellm/published_records.py).

Only the zip's end record, central directory and the RECORD member are fetched,
with HTTP range requests (about 0.5 MB per wheel instead of 16-45 MB); if the
server ignores ``Range`` the whole wheel is downloaded and its sha256 checked
against the registry's. RECORDs are cached under ~/.cache/fast-litellm/litellm-records
(wheels under .../wheels), so a re-run only fetches new releases.

    PYTHONPATH=python python3 scripts/make-litellm-record-manifest.py --to 1.110.2

Versions that fast_litellm/data/compromised.json lists and the registry no longer
has are written as "deleted"; versions of the range that the registry does not list
are what the audit reports as unpublished.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import struct
import sys
import urllib.parse
import urllib.request
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from fast_litellm.published_records import MANIFEST_FILE, version_key, wheel_fingerprint  # noqa: E402

INDEX = "https://pypi.org/pypi/litellm/json"
DATA = ROOT / "python" / "fast_litellm" / "data"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fast-litellm" / "litellm-records"
UA = {"User-Agent": "fast-litellm-record-manifest/1"}


def get(url: str, start: int = None, end: int = None):
    """(status, body) of a GET, with an inclusive byte range when given."""
    headers = dict(UA)
    if start is not None:
        headers["Range"] = f"bytes={start}-{end}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as resp:
        return resp.status, resp.read()


class Remote:
    """Random access to a remote file through range requests (None when unsupported)."""

    def __init__(self, url: str, size: int):
        self.url, self.size = url, size

    def read(self, start: int, length: int) -> bytes:
        end = min(self.size, start + length) - 1
        status, body = get(self.url, start, end)
        if status != 206 or len(body) != end - start + 1:
            raise RangeUnsupported(f"{self.url}: HTTP {status} for a range request")
        return body


class RangeUnsupported(Exception):
    pass


def record_by_range(remote: Remote) -> bytes:
    tail_len = min(remote.size, 65536 + 22)
    tail_start = remote.size - tail_len
    tail = remote.read(tail_start, tail_len)
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0:
        raise ValueError("no end of central directory record")
    cd_size, cd_offset = struct.unpack("<II", tail[eocd + 12: eocd + 20])
    if cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF:  # zip64
        loc = tail.rfind(b"PK\x06\x07", 0, eocd)
        (z64_offset,) = struct.unpack("<Q", tail[loc + 8: loc + 16])
        z64 = remote.read(z64_offset, 56)
        cd_size, cd_offset = struct.unpack("<QQ", z64[40:56])
    if cd_offset >= tail_start:
        cd = tail[cd_offset - tail_start: cd_offset - tail_start + cd_size]
    else:
        cd = remote.read(cd_offset, cd_size)
    pos = 0
    while pos + 46 <= len(cd) and cd[pos: pos + 4] == b"PK\x01\x02":
        (method, crc, csize, usize, nlen, elen, clen) = struct.unpack("<H4xIIIHHH", cd[pos + 10: pos + 34])
        (offset,) = struct.unpack("<I", cd[pos + 42: pos + 46])
        name = cd[pos + 46: pos + 46 + nlen].decode("utf-8")
        pos += 46 + nlen + elen + clen
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "RECORD":
            if 0xFFFFFFFF in (csize, usize, offset):
                raise ValueError("zip64 member: not handled")
            head = remote.read(offset, 30 + nlen + elen + csize + 4096)
            lnlen, lelen = struct.unpack("<HH", head[26:30])
            raw = head[30 + lnlen + lelen: 30 + lnlen + lelen + csize]
            if len(raw) != csize:
                raw = remote.read(offset + 30 + lnlen + lelen, csize)
            data = zlib.decompress(raw, -15) if method == 8 else raw
            if method not in (0, 8) or len(data) != usize or zlib.crc32(data) != crc:
                raise ValueError(f"{name}: bad member (method {method})")
            return data
    raise ValueError("no *.dist-info/RECORD in the central directory")


def record_by_download(url: str, filename: str, sha256: str) -> bytes:
    path = CACHE / "wheels" / filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _, body = get(url)
        if hashlib.sha256(body).hexdigest() != sha256:
            raise ValueError(f"{filename}: sha256 differs from the registry's")
        path.with_suffix(".part").write_bytes(body)
        path.with_suffix(".part").rename(path)
    with zipfile.ZipFile(path) as zf:
        [name] = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
        return zf.read(name)


def fetch_record(f: dict) -> bytes:
    cached = CACHE / (f["filename"] + ".RECORD")
    if cached.exists():
        return cached.read_bytes()
    url = urllib.parse.urljoin(INDEX, f["url"])
    try:
        data = record_by_range(Remote(url, f["size"]))
    except RangeUnsupported:
        data = record_by_download(url, f["filename"], f["digests"]["sha256"])
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="low", default="1.83.7", help="first version (the first LiteLLM we support)")
    ap.add_argument("--to", dest="high", required=True, help="last version (the newest pinned LiteLLM)")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--out", default=str(DATA / MANIFEST_FILE))
    args = ap.parse_args()
    low, high = version_key(args.low), version_key(args.high)
    _, body = get(INDEX)
    releases = json.loads(body)["releases"]
    versions = sorted((v for v in releases if low <= version_key(v) <= high), key=version_key)
    wheels = [(v, f) for v in versions for f in releases[v] if f["packagetype"] == "bdist_wheel"]
    print(f"{len(versions)} releases, {len(wheels)} wheels in [{args.low}, {args.high}]", file=sys.stderr)
    with ThreadPoolExecutor(args.jobs) as pool:
        records = list(pool.map(lambda vf: fetch_record(vf[1]), wheels))
    out_versions = {}
    for (v, f), record in zip(wheels, records):
        entry = out_versions.setdefault(v, {"wheels": []})
        entry["wheels"].append({"filename": f["filename"], **wheel_fingerprint(record)})
        if f.get("yanked"):
            entry["yanked"] = f.get("yanked_reason") or "yanked"
    for v in versions:
        if v not in out_versions:
            out_versions[v] = {"wheels": [], "note": "the registry lists this release without a wheel"}
        out_versions[v]["wheels"].sort(key=lambda w: w["filename"])
    deleted = {}
    compromised = json.loads((DATA / "compromised.json").read_text())
    for rel in compromised["releases"]:
        for v in rel["versions"]:
            if rel["name"] == "litellm" and v not in releases:
                deleted[v] = f"deleted from PyPI after the {rel['published']} compromise (compromised.json)"
    manifest = {
        "schema": 1,
        "about": "sha256 of the published *.dist-info/RECORD of every LiteLLM release wheel in `range`, and the "
                 "digest of the entries an installer keeps (fast_litellm/published_records.py). Generated by "
                 "scripts/make-litellm-record-manifest.py from the registry; do not edit by hand.",
        "source": INDEX,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "range": [args.low, args.high],
        "deleted": deleted,
        "versions": out_versions,
    }
    write(Path(args.out), manifest)
    print(f"wrote {args.out}: {len(out_versions)} versions, {len(wheels)} wheels, {len(deleted)} deleted",
          file=sys.stderr)


def write(path: Path, manifest: dict) -> None:
    """Indented JSON with one line per wheel (a reviewable diff when releases are added)."""
    lines = ["{"]
    head = {k: v for k, v in manifest.items() if k != "versions"}
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "versions": {')
    items = list(manifest["versions"].items())
    for i, (v, entry) in enumerate(items):
        extra = "".join(f", {json.dumps(k)}: {json.dumps(x)}" for k, x in entry.items() if k != "wheels")
        wheels = ",\n".join(f"      {json.dumps(w)}" for w in entry["wheels"])
        lines.append(f"    {json.dumps(v)}: {{\"wheels\": [\n{wheels}\n    ]{extra}}}" + ("," if i < len(items) - 1
                                                                                              else ""))
    lines.append("  }")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")
    json.loads(path.read_text())  # well-formed


if __name__ == "__main__":
    main()
