#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS each (default 60), seeded from events/.
# A crash stops the run; its input is in fuzz/artifacts/<target>/: add it as a regression test.
# Inputs are at most a few KiB, so any single allocation over 64 MiB can only come from a size
# an input declares (an image header's width x height, say): libFuzzer reports it as a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
# AddressSanitizer by default; the CI smoke uses none, which builds in half the time.
sanitizer=${FUZZ_SANITIZER:-address}
# Optimised by default (cargo-fuzz's release build, debug assertions on). The CI smoke sets
# FUZZ_DEV=1: it only proves that the targets build and run clean, which an unoptimised build
# (no optimisation of the AWS SDK) does in less build time, at fewer runs a second.
profile=()
if [ "${FUZZ_DEV:-0}" = 1 ]; then profile=(--dev); fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
# cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP=1.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain=(+nightly); else toolchain=(); export RUSTC_BOOTSTRAP=1; fi
mkdir -p fuzz/corpus/event fuzz/corpus/multipart fuzz/corpus/file_name fuzz/corpus/image_facts
cp -n events/*.json fuzz/corpus/event/ 2>/dev/null || true
printf -- '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\n\x89PNG\r\n--XyZ--\r\n' >fuzz/corpus/multipart/seed
printf '../../etc/passwd' >fuzz/corpus/file_name/seed
# Image seeds: a type-selector byte (0 = PNG, 3 = WebP, 5 = HEIF, 9 = JPEG XL) before a real file.
for seed in 3:lossy.webp 3:extended.webp 4:image.avif 5:image.heic 9:image.jxl 9:image-container.jxl; do
  { printf "\\$(printf '%03o' "${seed%%:*}")"; cat "testkit/fixtures/images/${seed#*:}"; } >"fuzz/corpus/image_facts/${seed#*:}"
done
for target in event multipart file_name image_facts; do
  echo "==> fuzz $target for ${seconds}s"
  cargo "${toolchain[@]}" fuzz run "${profile[@]}" --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=64
done
