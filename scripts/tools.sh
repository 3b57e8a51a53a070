#!/usr/bin/env bash
# Installs the command-line tools the Makefile needs, at the versions pinned below.
#
# Each Python tool gets a virtualenv of its own, named by its version, under $TOOLS_HOME
# (default ~/.cache/image-ingest-tools, shared by every checkout on the machine): checkov and
# aws-sam-cli pin different exact boto3 versions, so no single environment can hold both.
# A tool is installed when its virtualenv is missing or holds another version than the pin.
# Its commands are linked into .tools/bin of this checkout, which the Makefile and the scripts
# put first on PATH, so a different version installed elsewhere on the machine is never used.
#
# Usage: scripts/tools.sh [cargo-lambda] [moto] [cfn-lint] [checkov] [sam] [arm64] [qemu] [nasm]
#                         [chromium] [axe-core]
#        scripts/tools.sh --bin-dir   (prints the folder to put first on PATH; installs nothing)
#        scripts/tools.sh --python moto   (prints the python of moto's virtualenv, which has boto3
#                                          and PyYAML: the backfill scripts run on it; installs nothing)
#        scripts/tools.sh --axe   (prints the path of the pinned axe.min.js, which the browser
#                                  tests inject; installs nothing)
#        scripts/tools.sh --home   (prints the folder the virtualenvs live in)
set -euo pipefail
cd "$(dirname "$0")/.."

# The pins. moto 5.2.1 answers CompleteMultipartUpload with the wrong XML root, which the
# Rust SDK refuses; 5.2.5 is the version the moto tests are verified against.
MOTO_VERSION=5.2.5
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
SAM_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
UV_VERSION=0.13.9
# axe-core (npm), the accessibility checker the browser tests inject, and its tarball's integrity
# as the npm registry publishes it.
AXE_CORE_VERSION=4.14.1
AXE_CORE_INTEGRITY=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==

bin_dir=$PWD/.tools/bin
if [ "${1:-}" = --bin-dir ]; then echo "$bin_dir"; exit 0; fi
tools_home=${TOOLS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/image-ingest-tools}
if [ "${1:-}" = --python ] && [ "${2:-}" = moto ]; then echo "$tools_home/moto-$MOTO_VERSION/bin/python"; exit 0; fi
axe_js=$tools_home/axe-core-$AXE_CORE_VERSION/axe.min.js
if [ "${1:-}" = --axe ]; then echo "$axe_js"; exit 0; fi
if [ "${1:-}" = --home ]; then mkdir -p "$tools_home"; echo "$tools_home"; exit 0; fi
mkdir -p "$bin_dir" "$tools_home"

# uv (a PyPI wheel) installs the tools: the SAM CLI took 2.5 s with it here, against two minutes
# with pip. It gets a virtualenv of its own, made with the standard library's venv and pip.
export UV_PYTHON_DOWNLOADS=never
uv_command() {
  local venv=$tools_home/uv-$UV_VERSION
  (
    exec 9>"$tools_home/.uv.lock"
    flock 9
    if [ ! -x "$venv/bin/uv" ]; then
      rm -rf "$venv"
      python3 -m venv "$venv" >&2 || {
        echo "tools: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" >&2
    fi
  ) || exit 1
  echo "$venv/bin/uv"
}

# pinned PACKAGE VERSION EXTRAS COMMAND...: a virtualenv holding PACKAGE==VERSION, its
# COMMANDs linked into .tools/bin.
pinned() {
  local package=$1 version=$2 extras=$3; shift 3
  local venv=$tools_home/$package-$version
  (
    # One installer at a time per tool: other checkouts may be installing the same one.
    exec 9>"$tools_home/.$package.lock"
    flock 9
    if ! "$venv/bin/python" - "$package" "$version" 2>/dev/null <<'PY'
import importlib.metadata, sys
sys.exit(importlib.metadata.version(sys.argv[1]) != sys.argv[2])
PY
    then
      echo "tools: installing $package==$version into $venv" >&2
      rm -rf "$venv"
      local uv
      uv=$(uv_command)
      "$uv" venv --quiet --python python3 "$venv" >&2
      "$uv" pip install --quiet --python "$venv/bin/python" "$package$extras==$version" >&2
    fi
  )
  for command in "$@"; do
    [ -x "$venv/bin/$command" ] || { echo "tools: $package has no command $command" >&2; exit 1; }
    ln -sfn "$venv/bin/$command" "$bin_dir/$command"
  done
}

for tool in "$@"; do
  case "$tool" in
    cargo-lambda)
      pinned cargo-lambda "$CARGO_LAMBDA_VERSION" "" cargo-lambda
      # Cross builds (--arm64) use zig, which the wheel brings as the ziglang package.
      zig=$(ls "$tools_home/cargo-lambda-$CARGO_LAMBDA_VERSION"/lib/python3*/site-packages/ziglang/zig 2>/dev/null | head -1)
      if [ -n "$zig" ]; then ln -sfn "$zig" "$bin_dir/zig"; fi ;;
    moto) pinned moto "$MOTO_VERSION" "[server]" moto_server ;;
    cfn-lint) pinned cfn-lint "$CFN_LINT_VERSION" "" cfn-lint ;;
    checkov) pinned checkov "$CHECKOV_VERSION" "" checkov ;;
    sam) pinned aws-sam-cli "$SAM_VERSION" "" sam ;;
    qemu)
      # Runs the arm64 bootstrap here (make test-deploy): Debian's qemu-user and the arm64 C library.
      if ! command -v qemu-aarch64 >/dev/null 2>&1 || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
        echo "tools: installing qemu-user and libc6-arm64-cross (apt)" >&2
        [ "$(id -u)" = 0 ] || { echo "tools: apt-get needs root: install qemu-user and libc6-arm64-cross" >&2; exit 1; }
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user libc6-arm64-cross) >&2
      fi ;;
    nasm)
      # mozjpeg-sys assembles libjpeg-turbo's x86 SIMD with nasm; without it the build only
      # warns and the JPEG codec runs several times slower (tests, bench). arm64 needs none.
      if [ "$(uname -m)" = x86_64 ] && ! command -v nasm >/dev/null 2>&1; then
        echo "tools: installing nasm (apt)" >&2
        [ "$(id -u)" = 0 ] || { echo "tools: apt-get needs root: install nasm" >&2; exit 1; }
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nasm) >&2
      fi ;;
    chromium)
      # The browser tests drive it over the DevTools pipe (testkit/src/browser.rs); Debian's
      # package, without its Recommends (about 125 MB to download, 415 MB on disk).
      if ! command -v chromium >/dev/null 2>&1; then
        echo "tools: installing chromium (apt)" >&2
        [ "$(id -u)" = 0 ] || { echo "tools: apt-get needs root: install chromium" >&2; exit 1; }
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >&2
      fi ;;
    axe-core)
      # npm pack fetches the tarball alone (no node_modules, no scripts run); it is checked
      # against the pinned integrity before anything is extracted.
      (
        exec 9>"$tools_home/.axe-core.lock"
        flock 9
        if [ ! -s "$axe_js" ]; then
          echo "tools: installing axe-core $AXE_CORE_VERSION into $(dirname "$axe_js")" >&2
          command -v npm >/dev/null 2>&1 || { echo "tools: axe-core needs npm (on Debian: apt-get install npm)" >&2; exit 1; }
          work=$(mktemp -d)
          trap 'rm -rf "$work"' EXIT
          tarball=$(cd "$work" && npm pack --silent "axe-core@$AXE_CORE_VERSION" | tail -1)
          actual=$(node -e 'const c = require("crypto"), fs = require("fs");
            process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$work/$tarball")
          [ "$actual" = "$AXE_CORE_INTEGRITY" ] || {
            echo "tools: axe-core $AXE_CORE_VERSION: integrity $actual, expected $AXE_CORE_INTEGRITY" >&2; exit 1; }
          tar -xzf "$work/$tarball" -C "$work" package/axe.min.js
          mkdir -p "$(dirname "$axe_js")"
          # Renamed into place last, so a half-written file is never taken as installed.
          cp "$work/package/axe.min.js" "$axe_js.tmp" && mv "$axe_js.tmp" "$axe_js"
        fi
      ) || exit 1 ;;
    arm64)
      rustup target list --installed | grep -q aarch64-unknown-linux-gnu \
        || rustup target add aarch64-unknown-linux-gnu ;;
    *) echo "unknown tool: $tool" >&2; exit 2 ;;
  esac
done
