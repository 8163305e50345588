#!/usr/bin/env bash
# Installs, builds and runs the whole test suite: unit tests, ONNX node conformance,
# and end-to-end tests against ONNX Runtime. Extra arguments go to ctest (e.g. -R conformance).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
cd build
ctest -j"$(nproc)" --output-on-failure --timeout 1200 "$@"
