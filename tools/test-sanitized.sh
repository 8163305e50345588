#!/usr/bin/env bash
# The test suite under AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer
# (docs/reliability.md, "Sanitizers"): configures build-asan/ with -DLEIP_SANITIZE=ON (every
# library, test and the leip executable; not the artifacts, whose code LLVM generates at
# `leip compile` time), builds it and runs ctest there. Extra arguments go to ctest, e.g.
#   bash tools/test-sanitized.sh -R 'Runtime|e2e_compile$'
# CI's second command (after tools/test.sh): the whole suite takes much longer here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
if [ ! -f build-asan/build.ninja ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DLEIP_SANITIZE=ON
fi
cmake --build build-asan -j"$(nproc)"

supp="$PWD/tools/sanitizers"
# allocator_may_return_null: a refused huge allocation throws std::bad_alloc as it does
# without ASan (the hostile-model tests rely on it) instead of stopping the process.
# detect_leaks: LeakSanitizer at the exit of every sanitized process, the leip commands the
# e2e tests run included (a leak fails the command, so the test).
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:allocator_may_return_null=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:suppressions=$supp/asan.supp"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"

cd build-asan
status=0
start=$(date +%s)
ctest -j"$(nproc)" --output-on-failure --timeout 3600 "$@" 2>&1 | tee ctest.log || status=$?
status=$((status || PIPESTATUS[0]))
echo "sanitized suite: $(( $(date +%s) - start )) s"
grep -E '^[0-9]+% tests passed|^The following tests FAILED|^[[:space:]]+[0-9]+ - ' ctest.log || true
exit "$status"
