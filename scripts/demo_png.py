"""Writes a real, valid PNG of random RGB pixels (incompressible, so its size is about
width x height x 3 bytes): a large image for the demo's verified upload.
Usage: demo_png.py OUT WIDTH HEIGHT"""
import os
import struct
import sys
import zlib

out, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


rows = b"".join(b"\0" + os.urandom(width * 3) for _ in range(height))
with open(out, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
    f.write(chunk(b"IDAT", zlib.compress(rows, 0)))
    f.write(chunk(b"IEND", b""))
