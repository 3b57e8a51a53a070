"""The photos of `make bench-renditions`, made from scikit-image's wheel (bench/setup-renditions.sh).

sharp's published benchmark decodes a 2725x2225 JPEG photo. scikit-image ships public-domain
photographs, but none that large, so the four largest colour photographs it ships (below, each
with its licence as scikit-image's skimage/data/_fetchers.py states it) are centre-cropped to
2725:2225 and scaled to 2725x2225 with Pillow's LANCZOS, then saved as baseline JPEG, quality 90,
4:2:0, no EXIF. The scaling is an upscale (1.9x to 5.6x), so the photos are smoother than a
camera's: every contender decodes the same files, which keeps the ratios fair.

Usage: python renditions_photos.py SCIKIT_IMAGE_WHEEL OUT_DIR   (writes OUT_DIR/NN-name.jpg and
OUT_DIR/SOURCES.md)
"""
import io
import sys
import zipfile

from PIL import Image

WIDTH, HEIGHT = 2725, 2225

# (file in skimage/data/, what it is and its licence, as scikit-image states them)
PHOTOS = [
    ("retina.jpg", "fundus photograph of a human retina, Mikael Häggström, CC0 1.0 (Wikimedia Commons)"),
    ("hubble_deep_field.jpg", "Hubble eXtreme Deep Field, NASA, public domain"),
    ("rocket.jpg", "launch of DSCOVR on Falcon 9, SpaceX, released into the public domain"),
    ("coffee.png", "coffee cup, Rachel Michetti for Pikolo Espresso Bar, CC0"),
]


def main(wheel, out):
    lines = [
        "# The photos of `make bench-renditions`\n",
        f"From scikit-image's wheel `{wheel.rsplit('/', 1)[-1]}` (`skimage/data/`): centre-cropped to "
        f"{WIDTH}:{HEIGHT}, scaled to {WIDTH}x{HEIGHT} with Pillow {Image.__version__}'s LANCZOS, saved as "
        "baseline JPEG quality 90, 4:2:0.\n",
        "| file | source | source size | cropped to | scale |",
        "|---|---|---|---|---|",
    ]
    with zipfile.ZipFile(wheel) as z:
        for i, (name, credit) in enumerate(PHOTOS):
            im = Image.open(io.BytesIO(z.read(f"skimage/data/{name}"))).convert("RGB")
            w, h = im.size
            # The largest centred box of the target's aspect.
            if w * HEIGHT > h * WIDTH:
                cw, ch = round(h * WIDTH / HEIGHT), h
            else:
                cw, ch = w, round(w * HEIGHT / WIDTH)
            left, top = (w - cw) // 2, (h - ch) // 2
            im = im.crop((left, top, left + cw, top + ch)).resize((WIDTH, HEIGHT), Image.LANCZOS)
            target = f"{i:02d}-{name.rsplit('.', 1)[0]}.jpg"
            im.save(f"{out}/{target}", "JPEG", quality=90, subsampling=2, progressive=False, optimize=False)
            lines.append(f"| {target} | {name}: {credit} | {w}x{h} | {cw}x{ch} | {WIDTH / cw:.2f}x |")
    with open(f"{out}/SOURCES.md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
