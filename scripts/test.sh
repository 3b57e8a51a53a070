#!/usr/bin/env bash
# `make test`: the template's linters, the debug build and every cargo test, the backfill engine
# on moto, and the deploy path (make test-deploy), which needs the arm64 release build.
#
# That build (`make build`, six minutes on two cores from a fresh clone) runs from the start,
# beside the debug build and the tests, at a lower priority. Both builds spend long stretches on
# one core (the AWS SDK's largest crate, the link-time optimisation of the function) and the
# tests mostly wait on sockets, so together they take little more than the arm64 build alone.
# The two builds do not wait on each other: cargo locks each profile and target separately.
set -euo pipefail
cd "$(dirname "$0")/.."
timed=scripts/timed.sh
log=$(mktemp --suffix=-make-build.log)

# setsid gives the build its own session, so that stop_build can end all of it. With the
# kernel's autogroups (on in Debian's and Ubuntu's kernels) a session is also its own scheduling
# group, in which `nice` only ranks the build against itself: the group's own nice is what ranks
# it below the debug build and the tests.
lower='echo 10 2>/dev/null >/proc/self/autogroup; exec nice -n 10 "$@"'
setsid sh -c "$lower" sh "$timed" arm64-build make --no-print-directory build >"$log" 2>&1 &
build=$!
stop_build() { kill -- "-$build" 2>/dev/null || true; }
trap stop_build EXIT

"$timed" template-lint make --no-print-directory template-lint
"$timed" debug-build scripts/debug-build.sh
# The selection the debug build made (bench and floor have no tests), so nothing is compiled.
"$timed" cargo-test cargo test --workspace --exclude bench --exclude floor --exclude microbench
"$timed" test-backfill make --no-print-directory test-backfill

echo "==> waiting for the arm64 release build (make build; its output follows)"
status=0
wait "$build" || status=$?
trap - EXIT
cat "$log"
rm -f "$log"
if [ "$status" != 0 ]; then
  echo "make build failed (exit $status)" >&2
  exit "$status"
fi
"$timed" test-deploy make --no-print-directory test-deploy
