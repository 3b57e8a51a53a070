#!/usr/bin/env bash
# Installs what `make bench-renditions` needs and prints the settings for the harness
# (bench/src/bin/renditions.rs):
#   - sharp from npm, pinned, into a folder of its own (its prebuilt libvips comes with it);
#   - Pillow from PyPI, pinned, in a virtualenv of its own;
#   - the photos: scikit-image's wheel (PyPI, pinned) ships public-domain photographs in
#     skimage/data/. None is as large as sharp's benchmark photo (2725x2225), so the largest
#     colour ones are cropped to its aspect and scaled to 2725x2225 with Pillow's LANCZOS, then
#     saved as baseline JPEG, quality 90, 4:2:0 (bench/peer/renditions_photos.py says which).
# Everything lives under the tools home (scripts/tools.sh --home), shared by every checkout on
# the machine and kept out of git; a folder is complete once it holds `.complete`.
set -euo pipefail
cd "$(dirname "$0")/.."

SHARP_VERSION=0.35.6
PILLOW_VERSION=13.0.0
SKIMAGE_VERSION=0.26.0

home=$(scripts/tools.sh --home)

# once DIR COMMAND...: runs COMMAND (which fills DIR) unless DIR is complete, one caller at a time.
once() {
  local dir=$1; shift
  (
    exec 9>"$dir.lock"
    flock 9
    if [ ! -e "$dir/.complete" ]; then
      rm -rf "$dir"
      mkdir -p "$dir"
      "$@" >&2
      touch "$dir/.complete"
    fi
  )
}

command -v node >/dev/null || { echo "setup-renditions: node is not installed (sharp runs on it)" >&2; exit 1; }

sharp=$home/bench-sharp-$SHARP_VERSION
install_sharp() {
  printf '{"private":true}\n' >"$sharp/package.json"
  npm install --prefix "$sharp" --no-audit --no-fund --loglevel=error "sharp@$SHARP_VERSION"
}
once "$sharp" install_sharp

pillow=$home/bench-pillow-$PILLOW_VERSION
install_pillow() {
  python3 -m venv "$pillow"
  "$pillow/bin/pip" install --quiet --disable-pip-version-check "pillow==$PILLOW_VERSION"
}
once "$pillow" install_pillow

photos=$home/bench-photos-skimage-$SKIMAGE_VERSION
make_photos() {
  "$pillow/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$photos/wheel" "scikit-image==$SKIMAGE_VERSION"
  "$pillow/bin/python" bench/peer/renditions_photos.py "$photos/wheel"/scikit_image-*.whl "$photos"
  rm -rf "$photos/wheel"
}
once "$photos" make_photos

echo "BENCH_SHARP_DIR=$sharp/node_modules"
echo "BENCH_PILLOW_PYTHON=$pillow/bin/python"
echo "BENCH_PHOTOS=$photos"
