#!/usr/bin/env bash
# GPU check of CUDA artifacts (issue 8): leip's outputs against ONNX Runtime CPU, then latency.
# Artifacts are compiled where leip builds (no GPU needed) and can be carried to a GPU machine
# that has only python3 + numpy: each case is one self-contained folder.
#
#   tools/gpu-check.sh prepare OUT --arch sm_90 [--models resnet18,mobilenet_v2,fmnist_cnn,...] [--data_type int8]
#                      [--batches 1,8] [--force] [--no_build] [--leip PATH] [--models_dir DIR]
#       builds leip (unless --no_build or --leip), exports the torchvision models when missing
#       (tools/export_torchvision.py; --batch N for N > 1: their ONNX batch is fixed), and for
#       each (model, batch) writes OUT/<model>_b<batch>/:
#         artifact/          leip compile --target "cuda -arch=<arch>" (modelLibrary.so + schema)
#         inputs/<name>.npy  seeded input (torchvision: N(0,1); Fashion-MNIST: uniform [0,1))
#         reference/*.npy    ONNX Runtime CPU outputs for it (node tools/ort_run.js)
#         manifest.json      this case alone (paths relative to the folder)
#       and OUT/manifest.json listing every case folder in OUT. A case whose leip binary, ONNX
#       and target are unchanged is reused (--force redoes it). Prints each case's size.
#       --data_type int8: the int8 (QDQ) versions instead, cases <model>_b<batch>_int8:
#       tools/int8_models.py quantizes each model once (leip compress, symmetricpc, average
#       calibration; cached in build/benchmark/int8/), leip compiles the QDQ model for the GPU,
#       and the reference is leip's own x86_64 int8 artifact of the same model on the same
#       input (its integer kernels give bitwise the interpreter's results, so the GPU's must
#       match closely: gpu_check's tolerance applies). Torchvision models: batch 1 only.
#   tools/gpu-check.sh run OUT [--json FILE] [gpu_check.py options, e.g. --cases resnet18_b1]
#       python3 tools/gpu_check.py --manifest OUT/manifest.json: needs python3 + numpy only.
#       Case folders absent from OUT (not carried) are listed as absent.
#   tools/gpu-check.sh [OUT] [prepare options] [--json FILE]
#       both in one go, on a machine with leip's build tools and a GPU; OUT defaults to
#       build/gpu-check, --arch to the first GPU's compute capability (nvidia-smi).
#
# Exit codes: those of tools/gpu_check.py for run (0 all pass, 1 mismatch, 2 bad input,
# 3 runtime failure); prepare: 0 every case prepared, 1 some case failed (others are kept),
# 2 usage.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY_PREPARE="${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}"  # needs torch to export
# gpu_check.py needs numpy only: the first python3 that has it.
pick_run_python() {
  local py
  for py in ${PYTHON:-} python3 /usr/bin/python3; do
    "$py" -c 'import numpy' 2>/dev/null && { echo "$py"; return; }
  done
  echo "${PYTHON:-python3}"  # gpu_check.py then says numpy is missing
}
TORCHVISION_MODELS=(resnet18 mobilenet_v2)
EXAMPLE_MODELS=(fmnist_cnn fmnist_resnet fmnist_mobilenetv2)

usage() {  # the comment at the top; exits with $1
  sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "$1"
}

die() { echo "gpu-check: $*" >&2; exit 2; }

is_in() { local x="$1"; shift; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }

human_size() { numfmt --to=iec-i --suffix=B --format=%.1f "$1" 2>/dev/null || echo "$1 B"; }

# ---------------------------------------------------------------------------------------------
# prepare

ensure_leip() {
  if [ -n "$LEIP" ]; then
    [ -x "$LEIP" ] || die "--leip $LEIP is not an executable"
    return
  fi
  LEIP="$ROOT/build/src/cli/leip"
  if [ "$NO_BUILD" = 1 ]; then
    [ -x "$LEIP" ] || die "$LEIP is not built (drop --no_build, or run bash tools/build.sh)"
    return
  fi
  if [ -f "$ROOT/build/build.ninja" ]; then
    echo "gpu-check: building leip (cmake --build build --target leip) ..."
    # The lock serializes builds of a tree that several people share; harmless elsewhere.
    local lock=()
    command -v flock >/dev/null && lock=(flock /tmp/leip-build.lock)
    "${lock[@]}" nice -n 19 cmake --build "$ROOT/build" -j"$(nproc)" --target leip >/dev/null ||
      die "building leip failed (cmake --build build --target leip); --no_build uses the binary as it is"
  else
    echo "gpu-check: building leip (bash tools/build.sh) ..."
    bash "$ROOT/tools/build.sh" || die "bash tools/build.sh failed"
  fi
}

# ONNX of MODEL at BATCH; exports the torchvision ones when missing. Prints the path.
model_onnx() {
  local model="$1" batch="$2"
  if is_in "$model" "${EXAMPLE_MODELS[@]}"; then
    echo "$ROOT/models/$model.onnx"
    return
  fi
  local file="$MODELS_DIR/$model.onnx"
  [ "$batch" = 1 ] || file="$MODELS_DIR/${model}_b$batch.onnx"
  if [ ! -f "$file" ]; then
    "$PY_PREPARE" "$ROOT/tools/export_torchvision.py" --output_dir "$MODELS_DIR" --models "$model" \
      --batch "$batch" >&2 || return 1
  fi
  echo "$file"
}

# Writes CASE/inputs/<name>.npy (seeded, from the artifact's schema) and prints NAME=PATH args.
make_inputs() {
  local case_dir="$1" model="$2"
  "$PY_PREPARE" - "$case_dir" "$model" <<'PY'
import json, os, re, sys
import numpy as np
case_dir, model = sys.argv[1:]
with open(os.path.join(case_dir, "artifact", "model_schema.json")) as f:
    schema = json.load(f)
os.makedirs(os.path.join(case_dir, "inputs"), exist_ok=True)
rng = np.random.default_rng(0)
for tensor in schema["inputs"]:
    if tensor["dtype"] != "float32":
        sys.exit(f"input '{tensor['name']}' is {tensor['dtype']}; only float32 inputs are generated")
    # ImageNet-normalized images are about N(0,1); Fashion-MNIST pixels are in [0,1).
    if model.startswith("fmnist"):
        data = rng.random(tensor["shape"], dtype=np.float32)
    else:
        data = rng.standard_normal(tensor["shape"], dtype=np.float32)
    path = os.path.join(case_dir, "inputs", re.sub(r"[^A-Za-z0-9._-]", "_", tensor["name"]) + ".npy")
    np.save(path, data)
    print(f"{tensor['name']}={path}")
PY
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# The stamp a reusable case must match: leip binary, ONNX, target, batch.
case_stamp() {
  printf '%s %s %s %s\n' "$(sha256 "$LEIP")" "$(sha256 "$1")" "$2" "$3"
}

# The QDQ model of MODEL (a leip compress output folder), made once by tools/int8_models.py.
int8_source() {
  local model="$1" dir="$ROOT/build/benchmark/int8/$1.symmetricpc-int8-average"
  if [ ! -f "$dir/model.onnx" ] || [ "$FORCE" = 1 ]; then
    "$PY_PREPARE" "$ROOT/tools/int8_models.py" --models "$model" --quantizer symmetricpc >&2 || return 1
  fi
  echo "$dir"
}

# CASE/reference/*.npy from leip's x86_64 int8 artifact of SOURCE on the case's inputs.
# Prints the JSON that tools/ort_run.js would ({"outputs": [{name, path}], ...}).
int8_reference() {
  local case_dir="$1" source="$2" inputs="$3"
  shift 3
  local cpu="$case_dir.x86_64"
  "$LEIP" compile --input_path "$source" --output_path "$cpu" --target x86_64 "$@" >/dev/null || return 1
  local args=() pair
  for pair in $inputs; do args+=(--input "$pair"); done
  "$LEIP" run --input_path "$cpu" "${args[@]}" --output_path "$case_dir/reference" --json >/dev/null || return 1
  rm -rf "$cpu"
  "$PY_PREPARE" - "$case_dir/reference" <<'PY'
import json, os, sys
folder = sys.argv[1]
outputs = [{"name": f[:-4], "path": os.path.join(folder, f)} for f in sorted(os.listdir(folder)) if f.endswith(".npy")]
print(json.dumps({"outputs": outputs, "engine": "leip x86_64 int8 artifact"}))
PY
}

prepare_case() {
  local model="$1" batch="$2" name="${1}_b$2" case_dir="$OUT/${1}_b$2"
  local onnx
  if [ "$DATA_TYPE" = int8 ]; then
    name="${name}_int8"
    case_dir="${case_dir}_int8"
    if is_in "$model" "${TORCHVISION_MODELS[@]}" && [ "$batch" != 1 ]; then
      echo "gpu-check: $name: skipped (the int8 torchvision models are quantized at batch 1)" >&2
      return 0
    fi
    onnx="$(int8_source "$model")" || { echo "gpu-check: $name: quantizing $model failed" >&2; return 1; }
  else
    onnx="$(model_onnx "$model" "$batch")" || { echo "gpu-check: $name: exporting $model failed" >&2; return 1; }
  fi
  local stamp source_file="$onnx"
  [ -d "$onnx" ] && source_file="$onnx/model.onnx"
  stamp="$(case_stamp "$source_file" "$TARGET" "$batch")"
  if [ "$FORCE" = 0 ] && [ -f "$case_dir/manifest.json" ] && [ "$(cat "$case_dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "gpu-check: $name: up to date, reused"
    return 0
  fi
  rm -rf "$case_dir"
  mkdir -p "$case_dir"
  local shapes=()
  if is_in "$model" "${EXAMPLE_MODELS[@]}"; then shapes=(--input_shapes "$batch,1,28,28"); fi
  echo "gpu-check: $name: leip compile --target \"$TARGET\" ${shapes[*]}"
  local log="$case_dir.compile.log"
  if ! "$LEIP" compile --input_path "$onnx" --output_path "$case_dir/artifact" --target "$TARGET" "${shapes[@]}" \
      >"$log" 2>&1; then
    echo "gpu-check: $name: leip compile failed:" >&2
    sed 's/^/  /' "$log" >&2
    rm -rf "$case_dir"
    return 1
  fi
  rm -f "$log"
  local inputs
  inputs="$(make_inputs "$case_dir" "$model")" || { rm -rf "$case_dir"; return 1; }
  local ort_json
  # shellcheck disable=SC2086  # one NAME=PATH word per input (paths without spaces: OUT is ours)
  if [ "$DATA_TYPE" = int8 ]; then
    if ! ort_json="$(int8_reference "$case_dir" "$onnx" "$inputs" "${shapes[@]}")"; then
      echo "gpu-check: $name: the x86_64 int8 reference failed" >&2
      rm -rf "$case_dir" "$case_dir.x86_64"
      return 1
    fi
  elif ! ort_json="$(node "$ROOT/tools/ort_run.js" "$onnx" "$case_dir/reference" $inputs)"; then
    echo "gpu-check: $name: ONNX Runtime failed (node tools/ort_run.js; bash tools/install-deps.sh installs" \
      "onnxruntime-node)" >&2
    rm -rf "$case_dir"
    return 1
  fi
  "$PY_PREPARE" - "$case_dir" "$name" "$model" "$batch" "$TARGET" "$onnx" "$ort_json" <<'PY' || { rm -rf "$case_dir"; return 1; }
import json, os, re, sys
case_dir, name, model, batch, target, onnx, ort_json = sys.argv[1:]
ort = json.loads(ort_json)
with open(os.path.join(case_dir, "artifact", "model_schema.json")) as f:
    schema = json.load(f)
case = {"name": name, "model": model, "batch": int(batch), "leip_target": target,
        "schema_target": {k: v for k, v in schema.get("target", {}).items() if k != "features"}, "onnx": os.path.basename(onnx), "artifact": "artifact",
        # In the schema's order, each the file make_inputs wrote for it.
        "inputs": [{"name": t["name"], "path": os.path.join("inputs", re.sub(r"[^A-Za-z0-9._-]", "_", t["name"]) + ".npy")}
                   for t in schema["inputs"]],
        "references": [{"name": o["name"], "path": os.path.relpath(o["path"], case_dir)} for o in ort["outputs"]],
        "reference_engine": ort.get("engine") or f"onnxruntime-node {ort['ort_version']} CPU, optimizations {ort['opt_level']}",
        "library_bytes": os.path.getsize(os.path.join(case_dir, "artifact", "modelLibrary.so"))}
with open(os.path.join(case_dir, "manifest.json"), "w") as f:
    json.dump({"cases": [case]}, f, indent=2)
PY
  echo "$stamp" >"$case_dir/.stamp"
  echo "gpu-check: $name: $(human_size "$(du -sb "$case_dir" | cut -f1)") in $case_dir"
}

# OUT/manifest.json: every case folder of OUT, paths made relative to OUT.
write_manifest() {
  "$PY_PREPARE" - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
cases = []
for folder in sorted(os.listdir(out)):
    path = os.path.join(out, folder, "manifest.json")
    if not os.path.isfile(path):
        continue
    with open(path) as f:
        [case] = json.load(f)["cases"]
    case["artifact"] = os.path.join(folder, case["artifact"])
    for key in ("inputs", "references"):
        for item in case[key]:
            item["path"] = os.path.join(folder, item["path"])
    cases.append(case)
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump({"cases": cases}, f, indent=2)
print(f"gpu-check: wrote {os.path.join(out, 'manifest.json')} ({len(cases)} case(s))")
PY
}

print_sizes() {
  echo
  printf '%-24s %12s %10s  %s\n' "case" "bytes" "size" "library"
  local dir
  for dir in "$OUT"/*/; do
    [ -f "$dir/manifest.json" ] || continue
    local bytes lib
    bytes="$(du -sb "$dir" | cut -f1)"
    lib="$(stat -c %s "$dir/artifact/modelLibrary.so")"
    printf '%-24s %12s %10s  %s\n' "$(basename "$dir")" "$bytes" "$(human_size "$bytes")" "$(human_size "$lib")"
  done
  echo "(a case folder is self-contained: carry OUT/<case> with OUT/manifest.json, or run"
  echo " python3 tools/gpu_check.py --manifest OUT/<case>/manifest.json)"
}

detect_arch() {
  command -v nvidia-smi >/dev/null || return 1
  local cap
  cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')"
  [ -n "$cap" ] && echo "sm_$cap"
}

prepare() {
  [ -n "$OUT" ] || die "prepare needs an output folder: tools/gpu-check.sh prepare OUT --arch sm_90"
  if [ -z "$LEIP_TARGET" ]; then
    [ -n "$ARCH" ] || ARCH="$(detect_arch)" || die "give --arch sm_75..sm_90 (no GPU found to ask)"
    [[ "$ARCH" =~ ^sm_[0-9]+$ ]] || die "--arch $ARCH: expected sm_75..sm_90"
    TARGET="cuda -arch=$ARCH"
  else
    TARGET="$LEIP_TARGET"
  fi
  local m b
  IFS=, read -r -a MODEL_LIST <<<"$MODELS"
  IFS=, read -r -a BATCH_LIST <<<"$BATCHES"
  for m in "${MODEL_LIST[@]}"; do
    is_in "$m" "${TORCHVISION_MODELS[@]}" "${EXAMPLE_MODELS[@]}" ||
      die "unknown model '$m' (choose from $(IFS=,; echo "${TORCHVISION_MODELS[*]},${EXAMPLE_MODELS[*]}"))"
  done
  for b in "${BATCH_LIST[@]}"; do [[ "$b" =~ ^[1-9][0-9]*$ ]] || die "--batches: '$b' is not a batch size"; done
  command -v node >/dev/null || die "node is not on PATH; it runs ONNX Runtime (bash tools/install-deps.sh)"
  ensure_leip
  mkdir -p "$OUT" "$MODELS_DIR"
  OUT="$(cd "$OUT" && pwd)"
  local failed=()
  for m in "${MODEL_LIST[@]}"; do
    for b in "${BATCH_LIST[@]}"; do
      prepare_case "$m" "$b" || failed+=("${m}_b$b")
    done
  done
  write_manifest
  print_sizes
  if [ ${#failed[@]} -gt 0 ]; then
    echo "gpu-check: not prepared: ${failed[*]}" >&2
    return 1
  fi
}

run_check() {
  [ -n "$OUT" ] || die "run needs the prepared folder: tools/gpu-check.sh run OUT"
  [ -f "$OUT/manifest.json" ] || die "$OUT/manifest.json is missing (tools/gpu-check.sh prepare OUT ...)"
  local json=()
  [ -n "$JSON" ] && json=(--json "$JSON")
  "$(pick_run_python)" "$ROOT/tools/gpu_check.py" --manifest "$OUT/manifest.json" "${json[@]}" "${RUN_ARGS[@]}"
}

# ---------------------------------------------------------------------------------------------

MODE=all
case "${1:-}" in
  prepare|run) MODE="$1"; shift ;;
  -h|--help|help) usage 0 ;;
esac
OUT=""
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then OUT="$1"; shift; fi
ARCH="" MODELS="resnet18,mobilenet_v2,fmnist_cnn,fmnist_resnet,fmnist_mobilenetv2" BATCHES="1,8"
FORCE=0 NO_BUILD=0 LEIP="" LEIP_TARGET="" JSON="" MODELS_DIR="$ROOT/build/models" DATA_TYPE=float32
RUN_ARGS=()
need() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
  if [ "$MODE" = run ]; then
    case "$1" in
      --json) need "$@"; JSON="$2"; shift 2 ;;
      *) RUN_ARGS+=("$1"); shift ;;  # passed to gpu_check.py
    esac
    continue
  fi
  case "$1" in
    --arch) need "$@"; ARCH="$2"; shift 2 ;;
    --models) need "$@"; MODELS="$2"; shift 2 ;;
    --batches) need "$@"; BATCHES="$2"; shift 2 ;;
    --force) FORCE=1; shift ;;
    --data_type) need "$@"; DATA_TYPE="$2"; shift 2
      [[ "$DATA_TYPE" =~ ^(float32|int8)$ ]] || die "--data_type must be float32 or int8" ;;
    --no_build) NO_BUILD=1; shift ;;
    --leip) need "$@"; LEIP="$2"; shift 2 ;;
    --models_dir) need "$@"; MODELS_DIR="$2"; shift 2 ;;
    # Hidden: compile for another leip target (x86_64) to test this script without a GPU.
    --leip_target) need "$@"; LEIP_TARGET="$2"; shift 2 ;;
    --json) [ "$MODE" = all ] || die "--json belongs to run"; need "$@"; JSON="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) die "unknown option '$1' (tools/gpu-check.sh --help)" ;;
  esac
done

case "$MODE" in
  prepare) prepare; exit $? ;;
  run) run_check; exit $? ;;
  all)
    OUT="${OUT:-$ROOT/build/gpu-check}"
    prepare || echo "gpu-check: running the cases that were prepared" >&2
    run_check
    exit $?
    ;;
esac
