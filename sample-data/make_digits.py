#!/usr/bin/env python3
"""Regenerate sample-data/digits/ byte-for-byte from scikit-learn's bundled copy of UCI optdigits.

Each of the 1,797 8x8 images (pixel values 0..16) becomes an 8-bit grayscale PNG at
digits/<label>/<index:04d>.png, with value v mapped to round(v * 255 / 16). The PNG encoder
below is deliberately minimal and deterministic (one IDAT, zlib level 9, filter 0, no
ancillary chunks), so the output depends only on the data, not on an imaging library.

Usage: python3 make_digits.py [OUTDIR]   (default: digits/ beside this script)
Needs: pip install scikit-learn
"""
import os
import struct
import sys
import zlib

from sklearn.datasets import load_digits


def png_gray8(width, height, rows):
    def chunk(kind, payload):
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits")
    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        rows = [[int(round(float(v) * 255 / 16)) for v in row] for row in image]
        folder = os.path.join(out, str(int(label)))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "%04d.png" % index), "wb") as f:
            f.write(png_gray8(8, 8, rows))
    print("wrote %d images to %s" % (len(digits.images), out))


if __name__ == "__main__":
    main()
