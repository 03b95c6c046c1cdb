#!/usr/bin/env python3
"""Writes the dashboard's app icons (icon-192.png, icon-512.png) next to this script (the dashboard's static files).

Standard library only (zlib + struct): a white check mark on the dashboard's accent blue
(--accent in app.css), full bleed so that it also works as a maskable icon. Run it again only
to change the icons; the PNGs are committed.
"""
import os
import struct
import zlib

ACCENT = (0x1F, 0x5F, 0xBF)
WHITE = (0xFF, 0xFF, 0xFF)
# The check mark: two strokes, in units of the icon's size (inside the maskable safe zone).
STROKES = [((0.30, 0.52), (0.44, 0.66)), ((0.44, 0.66), (0.71, 0.36))]
WIDTH = 0.075


def distance(p, a, b):
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    cx, cy = ax + t * dx, ay + t * dy
    return ((px - cx) ** 2 + (py - cy) ** 2) ** 0.5


def pixel(x, y, size):
    p = ((x + 0.5) / size, (y + 0.5) / size)
    d = min(distance(p, a, b) for a, b in STROKES)
    # One pixel of antialiasing at the stroke's edge.
    cover = max(0.0, min(1.0, (WIDTH / 2 - d) * size + 0.5))
    return bytes(round(c1 * cover + c0 * (1 - cover)) for c0, c1 in zip(ACCENT, WHITE))


def png(size):
    rows = b"".join(b"\x00" + b"".join(pixel(x, y, size) for x in range(size)) for y in range(size))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for size in (192, 512):
        with open(os.path.join(here, f"icon-{size}.png"), "wb") as f:
            f.write(png(size))
