#!/usr/bin/env bash
# Serves the function locally as `cargo lambda watch` does (its Runtime API, Invoke API and
# Function URLs on 127.0.0.1:PORT), but runs the binary of the workspace's debug build
# (scripts/debug-build.sh) instead of letting cargo lambda build one of its own: the demo and
# the backfill engine then cost no second build of the SDK. Runs until it is stopped.
#
# Usage: scripts/serve-function.sh ENV_FILE PORT [COMMAND...]
#        ENV_FILE: KEY=VALUE lines, the function's environment, as `cargo lambda watch --env-file`
#        reads them. COMMAND runs in place of the debug binary (make test-deploy runs the packaged
#        arm64 bootstrap under qemu-aarch64 this way).
set -euo pipefail
cd "$(dirname "$0")/.."
env_file=$1
port=$2
shift 2
PATH="$(scripts/tools.sh --bin-dir):$PATH"  # the pinned cargo-lambda
if [ "$#" = 0 ]; then set -- "$(scripts/debug-build.sh image-ingest)"; fi

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
trap 'exit 143' TERM INT

cargo lambda watch --quiet --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$port" &
pids+=($!)
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# The Runtime API path names the function, so invocations of `image-ingest` (by name or through
# /lambda-url/image-ingest/) reach this process.
(
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
  export AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt/image-ingest" AWS_LAMBDA_FUNCTION_NAME=image-ingest \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256
  exec "$@"
) &
pids+=($!)
wait -n
