"""The benchmark pages' plots exist and are real pictures, and every image and table marker
in docs/benchmarks/ resolves. No timing is read or asserted here: bench/report.py draws the
plots from a run's JSON; this only checks what it left in the tree."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks"
PLOTS = ["proxy-scenarios.png", "token-counting-curve.png", "router-cpu-per-call.png", "limiter-exactness.png"]


def png_info(path: Path):
    """(width, height, decompressed pixel bytes) of a PNG, read with the standard library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    pos, width, height, idat = 8, None, None, b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise AssertionError(f"{path.name}: bad CRC in {kind!r}")
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.mark.parametrize("name", PLOTS)
def test_plot_is_a_real_picture(name):
    path = DOCS / "img" / name
    assert path.exists(), f"missing {path}: run bench/report.py (see docs/benchmarks/methodology.md)"
    assert path.stat().st_size > 20_000, f"{name} is suspiciously small"
    width, height, pixels = png_info(path)
    assert width >= 600 and height >= 400, (width, height)
    # Axes, text and several series leave many distinct byte values; a blank or
    # single-colour image (e.g. drawn without a font or data) does not.
    assert len(set(pixels[: 2_000_000])) > 64, f"{name} looks blank"


def test_every_plot_is_shown_and_every_image_link_resolves():
    pages = {p.name: p.read_text() for p in DOCS.glob("*.md")}
    assert {"index.md", "methodology.md"} <= set(pages)
    linked = set()
    for name, text in pages.items():
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
            assert (DOCS / target).exists(), f"{name} shows a missing image {target}"
            linked.add(Path(target).name)
    assert set(PLOTS) <= linked, f"plots no page shows: {set(PLOTS) - linked}"
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (ROOT / target).exists(), f"README shows a missing image {target}"


def test_report_markers_are_paired_and_filled():
    for page in DOCS.glob("*.md"):
        text = page.read_text()
        opened = re.findall(r"<!-- report:([a-z0-9-]+) -->", text)
        closed = re.findall(r"<!-- /report:([a-z0-9-]+) -->", text)
        assert opened == closed, f"{page.name}: unpaired report markers"
        for name in opened:
            body = text.split(f"<!-- report:{name} -->", 1)[1].split(f"<!-- /report:{name} -->", 1)[0]
            assert body.strip(), f"{page.name}: table {name} was never generated"


def test_no_link_to_the_old_benchmarks_page():
    for path in [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("python/fast_litellm/**/*.py")]:
        assert "docs/benchmarks.md" not in path.read_text().replace("git log -- docs/benchmarks.md", ""), path
