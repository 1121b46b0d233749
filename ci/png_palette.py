#!/usr/bin/env python3
"""Re-encodes an RGB(A) PNG screenshot as an 8-bit palette PNG, to commit a small picture
(docs/report.png) without ImageMagick: usage png_palette.py IN.png OUT.png.

The 255 most frequent colours are kept exactly (a page's backgrounds, chart and verdict
colours); every other colour (anti-aliased text edges) becomes the nearest kept one."""
import struct
import sys
import zlib
from collections import Counter


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"png_palette: {path}: not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace:
                sys.exit(f"png_palette: {path}: only 8-bit RGB/RGBA, not interlaced")
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif ftype == 3:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + (a + prev[i]) // 2) & 255
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([bytes(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: png_palette.py IN.png OUT.png")
    width, height, rows = read_png(sys.argv[1])
    counts = Counter(px for row in rows for px in row)
    palette = [c for c, _ in counts.most_common(255)]
    index = {c: i for i, c in enumerate(palette)}
    for colour in counts:
        if colour not in index:
            r, g, b = colour
            index[colour] = min(range(len(palette)), key=lambda i: (palette[i][0] - r) ** 2 * 3 +
                                (palette[i][1] - g) ** 2 * 4 + (palette[i][2] - b) ** 2 * 2)
    raw = b"".join(b"\x00" + bytes(index[px] for px in row) for row in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
    out += chunk(b"PLTE", b"".join(palette)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(sys.argv[2], "wb").write(out)
    print(f"png_palette: {sys.argv[2]}: {width}x{height}, {len(counts)} colours -> {len(palette)}, {len(out)} bytes")


main()
