#!/usr/bin/env bash
# Runs the test suite and, if anything failed, repeats every failure at the end of the output,
# where a truncated log still shows it.
set -uo pipefail
cd "$(dirname "$0")/.."
log=.build/test.log
mkdir -p .build
"${SWIFT:-swift}" test --skip-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo
    echo "=== failures (full log: $log) ==="
    grep -E "error: |' failed \(|Fatal error|Crash|signal" "$log" | cut -c1-2000
fi
exit "$status"
