"""The Pillow contender of `make bench-renditions` (bench/src/bin/renditions.rs drives it).

Usage: python renditions_pillow.py jpeg|webp SIZE PHOTO...
Reads every photo into memory, renders the first once (warm-up, not timed), prints `ready`, then
for each line `N` on stdin renders every photo N times, one after another, keeping the outputs in
memory, and prints `done IMAGES NANOSECONDS WIDTH HEIGHT OUTPUT_BYTES MAGIC` (the last output's
size and first bytes in hex). Pillow's fastest way to a thumbnail: `draft` lets libjpeg decode
at 1/2, 1/4 or 1/8 scale, then `thumbnail` resizes with LANCZOS; quality 80.
"""
import io
import sys
import time

import PIL
from PIL import Image


def main():
    fmt, size, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    photos = []
    for path in paths:
        with open(path, "rb") as f:
            photos.append(f.read())
    save_as = {"jpeg": "JPEG", "webp": "WEBP"}[fmt]

    def render(photo):
        im = Image.open(io.BytesIO(photo))
        im.draft("RGB", (size, size))
        im.thumbnail((size, size), Image.LANCZOS)
        out = io.BytesIO()
        im.save(out, save_as, quality=80)
        return im.size, out.getvalue()

    render(photos[0])
    print(f"ready Pillow {PIL.__version__}", flush=True)
    for line in sys.stdin:
        passes = int(line)
        kept = []
        started = time.perf_counter_ns()
        for _ in range(passes):
            for photo in photos:
                kept.append(render(photo))
        elapsed = time.perf_counter_ns() - started
        (width, height), last = kept[-1]
        total = sum(len(data) for _, data in kept)
        print(f"done {len(kept)} {elapsed} {width} {height} {total} {last[:12].hex()}", flush=True)


if __name__ == "__main__":
    main()
