#!/usr/bin/env bash
# Installs, builds and runs the whole test suite: unit tests, ONNX node conformance,
# and end-to-end tests against ONNX Runtime. Extra arguments go to ctest (e.g. -R conformance).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
cd build
rm -f conformance.md
status=0
ctest -j"$(nproc)" --output-on-failure --timeout 1200 "$@" 2>&1 | tee ctest.log || status=$?
status=$((status || PIPESTATUS[0]))
if [ -f conformance.md ]; then
  # The per-op counts of ONNX's node conformance cases (the full report, with every skipped
  # case and its reason, is build/conformance.md).
  echo
  sed -n '/^\*\*/p; /^| ops in/,/^$/p' conformance.md
fi
# Repeat ctest's verdict last so it closes the output.
grep -E '^[0-9]+% tests passed|^The following tests FAILED|^[[:space:]]+[0-9]+ - ' ctest.log || true
exit "$status"
