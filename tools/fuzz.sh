#!/usr/bin/env bash
# Fuzzes leip's loaders with libFuzzer, ASan and UBSan (docs/reliability.md, "Fuzzing"):
# the ONNX loader, the .npy reader, the image loader, the recipe parser and the index.txt
# reader (tests/fuzz/targets). Configures and builds the fuzzers in build-fuzz (clang-16;
# only the libraries the loaders need), then runs each target for N seconds, J at a time,
# starting from the seed corpus and the regression inputs.
#
#   tools/fuzz.sh [--seconds N] [--jobs J] [--build-dir DIR] [TARGET...]   (default 60 s, 2 jobs)
#
# New interesting inputs go to DIR/fuzz-corpus/TARGET (kept between runs), crashes and slow
# inputs to DIR/fuzz-artifacts/TARGET/, each run's output to DIR/fuzz-logs/TARGET.log. Exit 0 when no
# target found anything, 1 when one did (reproduce: DIR/tests/fuzz/leip_fuzz_TARGET FILE; keep
# the input under tests/fuzz/regressions/TARGET/ once fixed), 77 when clang-16 or libFuzzer is
# missing (the ctest fuzz_run then reports a skip).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
jobs=2
build=build-fuzz
targets=()
all_targets=(onnx_loader npy image recipe index)
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")

if ! command -v clang++-16 >/dev/null 2>&1 ||
   ! ls /usr/lib/llvm-16/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz.sh: skipped: needs clang-16 and libFuzzer (libclang-rt-16-dev): bash tools/install-deps.sh"
  exit 77
fi

if [ ! -f "$build/build.ninja" ]; then
  nice -n 19 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 -DLEIP_FUZZ=ON >/dev/null
fi
start=$(date +%s)
nice -n 19 cmake --build "$build" -j"$jobs" --target leip_fuzzers
echo "fuzz.sh: fuzzers built in $(($(date +%s) - start)) s"

mkdir -p "$build/fuzz-logs"
touch "$build/fuzz-logs/.start" # crash files newer than this are this run's
run_one() {
  local t=$1
  local corpus="$build/fuzz-corpus/$t" artifacts="$build/fuzz-artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  # -rss_limit_mb: the targets cap leip at 64 MiB (FuzzSupport.h), so more is a bug (OOM).
  # -timeout: inputs take well under 3 s under ASan; 30 s leaves room for a loaded machine
  # (at load 28, nice 19 starved a 230 ms input past 10 s).
  nice -n 19 "$build/tests/fuzz/leip_fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2560 -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t" \
    >"$build/fuzz-logs/$t.log" 2>&1
}

declare -A status
running=0
pids=()
names=()
for t in "${targets[@]}"; do
  [ -f "tests/fuzz/targets/$t.cpp" ] || { echo "fuzz.sh: no target $t (have: ${all_targets[*]})" >&2; exit 2; }
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then status[${names[$i]}]=0; else status[${names[$i]}]=$?; fi
done

# libFuzzer keeps an input that took over 10 s (-report_slow_units) as slow-unit-*, without
# failing. Such an input is a bug when it is slow on its own (a 91-byte PNG made stb clear
# 1.5 GB: tests/fuzz/regressions/image); on a loaded CI machine a normal one can pass 10 s
# too. So each is replayed alone after the run, and fails it when the replay takes over 5 s
# of CPU time (LEIP_FUZZ_SLOW_MS overrides). CPU time, not wall time: the load that made it
# slow is still there. Inputs whose work grows with --max_memory (a 382-byte model filling
# 64 MiB) take 1-3 s.
slow_cpu_limit_ms=${LEIP_FUZZ_SLOW_MS:-5000}
check_slow_inputs() {
  local t=$1 file cpu_ms verdict="" TIMEFORMAT='%3U %3S'
  while IFS= read -r file; do
    # bash's `time` reports the replay's user and system CPU seconds.
    cpu_ms=$({ time "$build/tests/fuzz/leip_fuzz_$t" "$file" >/dev/null 2>&1; } 2>&1 |
      awk '{ printf "%d", ($1 + $2) * 1000 }')
    if ((cpu_ms > slow_cpu_limit_ms)); then
      verdict+="slow input ($cpu_ms ms of CPU alone): $file "
    else
      echo "fuzz.sh: $t: $file was slow under load only ($cpu_ms ms of CPU alone)" >&2
    fi
  done < <(find "$build/fuzz-artifacts/$t" -type f -name 'slow-unit-*' -newer "$build/fuzz-logs/.start" 2>/dev/null | head -3)
  printf '%s' "$verdict"
}

failed=0
printf '%-12s %8s %12s  %s\n' target seconds execs result
for t in "${targets[@]}"; do
  log="$build/fuzz-logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  artifacts=$(find "$build/fuzz-artifacts/$t" -type f ! -name 'slow-unit-*' -newer "$build/fuzz-logs/.start" 2>/dev/null | head -3 | tr '\n' ' ')
  slow=$(check_slow_inputs "$t")
  if [ "${status[$t]}" = 0 ] && [ -z "$artifacts" ] && [ -z "$slow" ]; then
    result="no crash"
  elif [ "${status[$t]}" = 0 ] && [ -z "$artifacts" ]; then
    result="FAILED: $slow"
    failed=1
  else
    result="FAILED (exit ${status[$t]}): $(grep -m1 -E 'ERROR: |==ERROR|runtime error|terminate called' "$log" || echo "see $log") ${artifacts}"
    failed=1
  fi
  printf '%-12s %8s %12s  %s\n' "$t" "$seconds" "${execs:-?}" "$result"
done
if ((failed)); then
  echo "fuzz.sh: a target failed; its log is in $build/fuzz-logs, the input in $build/fuzz-artifacts" >&2
  for t in "${targets[@]}"; do
    [ "${status[$t]}" = 0 ] || tail -40 "$build/fuzz-logs/$t.log" >&2
  done
fi
exit "$failed"
