#!/usr/bin/env bash
# Runs a command; when TIMINGS names a file, appends a line for it there: start time, depth,
# name, wall seconds and exit status. .ci/run prints the lines as its closing table. Nested
# calls (a timed make target that runs timed commands) are indented by one level each.
#
# Usage: scripts/timed.sh NAME COMMAND [ARG...]
set -uo pipefail
name=$1
shift
depth=${TIMED_DEPTH:-0}
start=$EPOCHREALTIME
TIMED_DEPTH=$((depth + 1)) "$@"
status=$?
if [ -n "${TIMINGS:-}" ]; then
  awk -v start="$start" -v end="$EPOCHREALTIME" -v depth="$depth" -v name="$name" -v status="$status" \
    'BEGIN { printf "%s\t%s\t%s\t%.0f\t%s\n", start, depth, name, end - start, status }' >>"$TIMINGS"
fi
exit "$status"
