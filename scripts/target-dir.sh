#!/usr/bin/env bash
# Prints the folder cargo builds this workspace into, as cargo itself reports it: ./target
# unless CARGO_TARGET_DIR or build.target-dir (in any .cargo/config.toml) says otherwise.
# Scripts run the binaries they built from there, never from a fixed target/ path.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --no-deps --offline \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
