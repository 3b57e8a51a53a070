#!/usr/bin/env bash
# The one debug build of the workspace. The tests, the bench smoke, the demo and the backfill
# engine all run what it builds, so cargo compiles the dependencies once: every binary and every
# test target in one invocation, with the dev-dependencies' features on. A narrower command
# (`cargo build -p image-ingest`, or what `cargo lambda watch` runs) resolves other features
# for tokio and hyper and so builds the whole AWS SDK again.
#
# The benchmark harness (bench, floor) is left out unless --bench asks for it: only the bench
# smoke runs it, and `make test` is then spared its eight binaries. Both add no feature to a
# shared dependency, so the build with --bench reuses every crate of the one without and
# compiles only themselves (docs/development.md, "Builds").
#
# Usage: scripts/debug-build.sh [--bench] [BIN...]   builds, then prints the path of each BIN,
#        one a line.
set -euo pipefail
cd "$(dirname "$0")/.."
select=(--workspace --exclude bench --exclude floor --exclude microbench)
if [ "${1:-}" = --bench ]; then
  select=(--workspace --exclude microbench)
  shift
fi
cargo build "${select[@]}" --bins --tests --message-format=json-render-diagnostics \
  | python3 -c '
import json, sys
wanted = sys.argv[1:]
found = {}
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") and "bin" in message["target"]["kind"]:
        found[message["target"]["name"]] = message["executable"]
missing = [name for name in wanted if name not in found]
if missing:
    sys.exit("debug-build: no binary named " + ", ".join(missing))
print("\n".join(found[name] for name in wanted))
' "$@"
