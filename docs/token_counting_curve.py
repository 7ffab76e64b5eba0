"""Draw the token_counting "FFI overhead curve" PNG from two `fast-litellm bench --json` reports.

Pure Python (no matplotlib): x = log10(characters) from 10 to 100k, y = speed-up
(stock / accelerated) from 0 to the max; a grey line at 1x; 1.83.14 in blue,
1.110.2 in orange, one dot per measured size.
Usage: python docs/token_counting_curve.py bench-1.83.14.json bench-1.110.2.json docs/token_counting_curve.png
"""
import json
import math
import struct
import sys
import zlib

W, H, M = 640, 400, 40


def png(path, pixels):
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
                 + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main(a, b, out):
    series = []
    for path, color in ((a, (31, 119, 180)), (b, (255, 127, 14))):
        rep = json.load(open(path))
        pts = []
        for r in rep["results"]:
            parts = r["name"].split()
            if len(parts) >= 3 and parts[0] == "token_counter" and parts[2] == "chars" and "ratio" in r:
                pts.append((int(parts[1]), r["ratio"]))
        series.append((sorted(pts), color))
    ymax = max(max(r for _, r in s) for s, _ in series) * 1.1
    px = [[(255, 255, 255)] * W for _ in range(H)]

    def to_xy(n, r):
        x = M + (math.log10(n) - 1) / 4 * (W - 2 * M)
        y = H - M - r / ymax * (H - 2 * M)
        return x, y

    def dot(x, y, c, rad=1):
        for dx in range(-rad, rad + 1):
            for dy in range(-rad, rad + 1):
                xi, yi = int(round(x)) + dx, int(round(y)) + dy
                if 0 <= xi < W and 0 <= yi < H:
                    px[yi][xi] = c

    def line(p, q, c, rad=1):
        steps = int(max(abs(q[0] - p[0]), abs(q[1] - p[1]))) + 1
        for i in range(steps + 1):
            t = i / steps
            dot(p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t, c, rad)

    black, grey = (0, 0, 0), (170, 170, 170)
    line((M, H - M), (W - M, H - M), black, 0)
    line((M, M), (M, H - M), black, 0)
    for k in range(1, 6):  # decade ticks 10 .. 100k
        x, _ = to_xy(10 ** k, 0)
        line((x, H - M), (x, H - M + 6), black, 0)
    for r in range(0, int(ymax) + 1, 2):
        _, y = to_xy(10, r)
        line((M - 6, y), (M, y), black, 0)
    one = to_xy(10, 1)[1]
    line((M, one), (W - M, one), grey, 0)
    for pts, color in series:
        xy = [to_xy(n, r) for n, r in pts]
        for p, q in zip(xy, xy[1:]):
            line(p, q, color, 1)
        for p in xy:
            dot(*p, color, 3)
    png(out, px)


if __name__ == "__main__":
    main(*sys.argv[1:4])
