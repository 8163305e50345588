#!/usr/bin/env bash
# Installs what is missing (tools/install-deps.sh), then configures and builds leip in
# build/ (Release, Ninja). Safe to re-run: each step only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j"$(nproc)"
