#!/usr/bin/env python3
"""Writes the image fixtures in images/: one file per decoder path the tests cover.

PNG variants use a minimal hand-written encoder (16-bit, palette, gray+alpha, Adam7 interlace);
JPEG variants need Pillow (pip install pillow). Run: python3 make_fixtures.py
"""
import io, os, struct, zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")


def chunk(kind, payload):
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, depth, color, rows, palette=None, interlace=0):
    """rows: list of bytes objects (already packed samples)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette:
        out += chunk(b"PLTE", b"".join(bytes(c) for c in palette))
    raw = b"".join(b"\x00" + r for r in rows)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def gray_value(x, y):
    return (x * 16 + y * 4) % 256


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(HERE, exist_ok=True)
    w, h = 16, 12
    # 16-bit gray: sample = v * 257 so 8-bit reduction gives v back.
    write("gray16.png", png(w, h, 16, 0, [b"".join(struct.pack(">H", gray_value(x, y) * 257) for x in range(w)) for y in range(h)]))
    # gray + alpha
    write("gray_alpha.png", png(w, h, 8, 4, [bytes(v for x in range(w) for v in (gray_value(x, y), 255 - x)) for y in range(h)]))
    # palette with 4 colours
    pal = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    write("palette.png", png(w, h, 8, 3, [bytes((x + y) % 4 for x in range(w)) for y in range(h)], palette=pal))
    # RGBA
    write("rgba.png", png(w, h, 8, 6, [bytes(v for x in range(w) for v in (x * 16, y * 16, 128, 200)) for y in range(h)]))
    # Adam7-interlaced 8-bit gray: the same pixels as gray_value, in seven passes.
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, w, dx)); ys = list(range(y0, h, dy))
        if not xs or not ys:
            continue
        for y in ys:
            raw += b"\x00" + bytes(gray_value(x, y) for x in xs)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1)
    write("interlaced.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    # A header that claims 100000 x 100000 pixels, followed by a tiny IDAT.
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
    write("huge_header.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))

    from PIL import Image
    rgb = Image.new("RGB", (w, h))
    rgb.putdata([(x * 16, y * 16, 100) for y in range(h) for x in range(w)])
    for name, image, kwargs in [
        ("baseline.jpg", rgb, {}),
        ("progressive.jpg", rgb, {"progressive": True}),
        ("gray.jpg", rgb.convert("L"), {}),
        ("cmyk.jpg", rgb.convert("CMYK"), {}),
    ]:
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=95, **kwargs)
        write(name, buf.getvalue())


if __name__ == "__main__":
    main()
