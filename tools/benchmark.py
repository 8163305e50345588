#!/usr/bin/env python3
"""leip against ONNX Runtime: median latency of compiled artifacts and of ORT on the same
machine, in the same run, as a ratio; fp32 and int8.

For each model (torchvision resnet18 and mobilenet_v2 at 1x3x224x224, exported with
tools/export_torchvision.py when missing, and the Fashion-MNIST examples at batch 1):

  1. `leip compile` for the host into BUILD/benchmark/<model>/ (a model that does not
     compile yet is listed as "not compiled yet" with the error's first line);
  2. int8 (unless --no_int8): `leip compress` (--quantizer, --quant_data_type, --calibration;
     calibration data and caching as tools/int8_models.py describes) into
     BUILD/benchmark/int8/<model>.<settings>/, then `leip compile --input_path <that dir>
     --data_type int8`; a step that fails makes its rows "unavailable" with leip's message.
     ONNX Runtime int8 runs the same QDQ model.onnx; the ops of the graph ORT executes after
     optimization are counted, to show whether it used its integer kernels (QLinearConv,
     QGemm) or float ones between Q/DQ pairs. Compress outputs and compiled artifacts are
     reused while the leip binary, model, calibration data and flags are unchanged;
  3. one random input (uniform [0, 1), seed 0) written as .npy and fed to every engine;
  4. for each thread count T: `leip benchmark --json --threads T` on each artifact and
     `node tools/ort_benchmark.js --threads=T` (onnxruntime-node, graphOptimizationLevel
     'all', intraOpNumThreads T) on each ONNX model, same warm-up and iteration counts,
     alternating the engines (leip fp32, ORT fp32, leip int8, ORT int8) for --rounds rounds;
     each engine's best (lowest) median over the rounds is kept, which filters out bursts of
     load from other processes on a shared machine.

Prints the tables (ratio leip/ORT of median latency, < 1: leip is faster; int8 targets of
issue 6: leip int8 <= 0.5x ORT fp32 and <= 1.0x ORT int8, and the int8 .so <= 0.3x the fp32
one for resnet18) and writes them to --output (docs/performance.md) with the CPU model, its
SIMD flags (AVX2, AVX-512, VNNI; dot product on aarch64), the load average and the command
to reproduce; --results (BUILD/benchmark/results.json) holds every number.

    /usr/bin/python3 tools/benchmark.py                       # all models, 1 and 2 threads
    /usr/bin/python3 tools/benchmark.py --models resnet18 --threads 1 --no_write
    /usr/bin/python3 tools/benchmark.py --models fmnist_cnn --rounds 1 --iterations 3 \\
        --output /tmp/perf.md --results /tmp/results.json      # quick smoke, docs untouched

Not a test: these machines are noisy, so speed is reported, not asserted.
"""

import argparse
import glob
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import int8_models  # noqa: E402
from int8_models import EXAMPLES, TORCHVISION, first_line, run  # noqa: E402

# Engines in the order each round runs them; the int8 ones only where their model exists.
ENGINES = ("leip", "ort", "leip_int8", "ort_int8")
ENGINE_NAMES = {"leip": "leip fp32", "ort": "ORT fp32", "leip_int8": "leip int8", "ort_int8": "ORT int8"}
# Issue 6's targets: leip int8 against ORT fp32 and ORT int8, and the int8 .so against the fp32 one.
TARGET_INT8_VS_ORT_FP32, TARGET_INT8_VS_ORT_INT8, TARGET_SIZE = 0.5, 1.0, 0.3
CPU_FLAGS = {"x86_64": ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16"),
             "aarch64": ("asimd", "asimddp", "i8mm")}


def cpu_info():
    """Model name, logical CPUs and the SIMD flags that decide which kernels run."""
    info = {"model": platform.processor() or "unknown", "cpus": os.cpu_count(), "flags": {}}
    try:
        text = subprocess.run(["lscpu"], stdout=subprocess.PIPE, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return info
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name":
            info["model"] = value.strip()
        elif key.strip() == "Flags":
            flags = set(value.split())
    names = CPU_FLAGS.get(platform.machine(), CPU_FLAGS["x86_64"])
    info["flags"] = {flag: flag in flags for flag in names}
    return info


def model_list(args):
    models = []
    for name in args.models:
        try:
            models.append((name, int8_models.model_path(name, args.models_dir)))
        except ValueError as e:
            sys.exit(f"benchmark: {e}")
    return models


def ensure_torchvision(args, names):
    missing = [n for n in names if n in TORCHVISION and not os.path.isfile(os.path.join(args.models_dir, n + ".onnx"))]
    if not missing:
        return
    print(f"exporting {', '.join(missing)} with tools/export_torchvision.py ...", flush=True)
    rc, out, err = run([sys.executable, os.path.join(ROOT, "tools", "export_torchvision.py"), "--output_dir",
                        args.models_dir], timeout=1200)
    if rc != 0:
        sys.exit("benchmark: exporting the torchvision models failed:\n" + err[-2000:])


def onnx_input_shapes(path):
    """{input name: shape} of the ONNX graph's real inputs (dynamic dims -> 1)."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    shapes = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims]
    return shapes


def prepare_int8(args, name, path, input_args, row):
    """Compresses and compiles the int8 model; fills row['int8']. Returns {engine: artifact or
    ONNX path} for the int8 engines that can run."""
    info = row["int8"] = {"settings": args.int8_settings}
    try:
        q = int8_models.compress(args.leip, name, path, args.work, args.int8_settings, timeout=args.timeout)
    except int8_models.ProductError as e:
        info["error"] = f"leip compress failed: {e}"
        print(f"{name}: int8 unavailable: {info['error']}", flush=True)
        return {}
    info.update({"qdq_model": q["model"], "compress_seconds": q["seconds"], "compress_reused": q["reused"],
                 "storage": q["storage"]})
    print(f"{name}: QDQ model {os.path.relpath(q['dir'])} ({'reused' if q['reused'] else 'compressed'}, "
          f"compress {q['seconds']:.1f} s); {int8_models.storage_text(q['storage'])}", flush=True)
    info["ort_graph"] = int8_models.ort_graph(q["model"], input_args, q["dir"] + ".ort_optimized.onnx")
    print(f"{name}: ONNX Runtime int8 runs {int8_models.ort_graph_text(info['ort_graph'])}", flush=True)
    engines = {} if "error" in info["ort_graph"] else {"ort_int8": q["model"]}
    if "error" in info["ort_graph"]:
        info["ort_error"] = info["ort_graph"]["error"]
    try:
        artifact = int8_models.compile_artifact(args.leip, q["dir"], q["dir"] + ".compiled", ["--data_type", "int8"],
                                                timeout=args.timeout)
    except int8_models.ProductError as e:
        info["leip_error"] = f"leip compile --data_type int8: {e}"
        print(f"{name}: leip int8 unavailable: {info['leip_error']}", flush=True)
        return engines
    info.update({"artifact": artifact["dir"], "library_bytes": artifact["library_bytes"],
                 "compile_seconds": artifact["compile_seconds"], "compile_reused": artifact["reused"]})
    with open(os.path.join(artifact["dir"], "model_schema.json")) as f:
        schema = json.load(f)
    if [t["shape"] for t in schema["inputs"]] != row["input_shapes"]:
        info["leip_error"] = (f"the int8 artifact's inputs {[t['shape'] for t in schema['inputs']]} differ from the "
                              f"fp32 artifact's {row['input_shapes']}")
        print(f"{name}: leip int8 unavailable: {info['leip_error']}", flush=True)
        return engines
    engines["leip_int8"] = artifact["dir"]
    return engines


# --realtime: a pause loop that holds a core at the benchmark's SCHED_FIFO priority, so that
# a 1-thread run's neighbour core runs nothing else (other jobs' memory traffic and a shared
# physical core slow the measured one by up to 20 % on the shared 2-core VM).
IDLE_LOOP_C = r'''
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv) {
  double limit = atof(argv[1]);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    for (int i = 0; i < 10000; ++i) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#else
      __asm__ volatile("yield");
#endif
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) * 1e-9 > limit) return 0;
  }
}
'''
REALTIME_PRIORITY = "10"

# The round trip of a cache line between two cores (one thread writes, the other answers), in
# ns. It tells how the machine's cores share caches, which decides multi-threaded latency: on
# the 2-vCPU VM here it changed between runs from about 130 ns (one L3) to 450 ns (two), and
# with it leip's and ORT's 2-thread times by up to 1.7x (docs/performance-notes.md).
CORE_LATENCY_C = r'''
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static _Atomic long flag __attribute__((aligned(64)));
static long rounds = 20000;
static int other_cpu;
static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
static void *answer(void *unused) {
  pin(other_cpu);
  for (long i = 0; i < rounds; ++i) {
    while (atomic_load(&flag) != 2 * i + 1) {}
    atomic_store(&flag, 2 * i + 2);
  }
  return unused;
}
int main(int argc, char **argv) {
  other_cpu = atoi(argv[2]);
  atomic_store(&flag, 0);
  pthread_t thread;
  pthread_create(&thread, 0, answer, 0);
  pin(atoi(argv[1]));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < rounds; ++i) {
    atomic_store(&flag, 2 * i + 1);
    while (atomic_load(&flag) != 2 * i + 2) {}
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  pthread_join(thread, 0);
  printf("%.0f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / rounds);
  return 0;
}
'''


def build_idle_loop(work):
    """The idle loop's binary (built once with cc); None where it cannot be built."""
    binary = os.path.join(work, "idle_loop")
    if os.access(binary, os.X_OK):
        return binary
    source = binary + ".c"
    with open(source, "w") as f:
        f.write(IDLE_LOOP_C)
    rc, _, err = run(["cc", "-O2", "-o", binary, source], timeout=120)
    return binary if rc == 0 else None


def core_round_trip(args, work):
    """Median cache-line round trip in ns between the first CPU and each other one (first
    four), each the best of 3 tries; None where it cannot be measured (one CPU, no compiler)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    binary = os.path.join(work, "core_latency")
    if not os.access(binary, os.X_OK):
        with open(binary + ".c", "w") as f:
            f.write(CORE_LATENCY_C)
        if run(["cc", "-O2", "-pthread", "-o", binary, binary + ".c"], timeout=120)[0] != 0:
            return None
    prefix = ["chrt", "-f", REALTIME_PRIORITY] if getattr(args, "realtime", False) else []
    samples = []
    for other in cpus[1:5]:
        tries = []
        for _ in range(3):
            rc, out, _ = run(prefix + [binary, str(cpus[0]), str(other)], timeout=60)
            if rc == 0 and out.strip():
                tries.append(float(out.strip()))
        if tries:
            samples.append(min(tries))
    return statistics.median(samples) if samples else None


def measure(args, engine, target, threads, pin, input_args):
    """One run of `engine` (leip benchmark or ort_benchmark.js) on `target`: (result, error)."""
    if args.realtime:
        return measure_realtime(args, engine, target, threads, pin, input_args)
    return measure_once(args, engine, target, threads, pin, input_args)


def measure_realtime(args, engine, target, threads, pin, input_args):
    """measure() under SCHED_FIFO; with one thread pinned to a core, the other cores hold idle loops."""
    idlers = []
    try:
        if pin and args.idle_loop:
            core = int(pin[-1])
            for other in sorted(os.sched_getaffinity(0)):
                if other != core:
                    idlers.append(subprocess.Popen(["chrt", "-f", REALTIME_PRIORITY, "taskset", "-c", str(other),
                                                    args.idle_loop, str(args.timeout)]))
        return measure_once(args, engine, target, threads, ["chrt", "-f", REALTIME_PRIORITY] + pin, input_args)
    finally:
        for p in idlers:
            p.kill()
            p.wait()


def measure_once(args, engine, target, threads, pin, input_args):
    if engine.startswith("leip"):
        cmd = pin + [args.leip, "benchmark", "--input_path", target, "--threads", threads, "--iterations",
                     args.iterations, "--warmup", args.warmup, "--json"]
        for arg in input_args:
            cmd += ["--input", arg]
    else:
        cmd = pin + ["node", os.path.join(ROOT, "tools", "ort_benchmark.js"), f"--threads={threads}",
                     f"--iterations={args.iterations}", f"--warmup={args.warmup}", "--opt_level=all", target,
                     *input_args]
    rc, out, err = run(cmd, timeout=args.timeout)
    if rc != 0:
        return None, first_line(err or out)
    return json.loads(out), None


def benchmark_model(args, name, path, work):
    row = {"model": name, "path": path, "results": []}
    try:
        fp32 = int8_models.compile_artifact(args.leip, path, os.path.join(work, name), [], timeout=args.timeout)
    except int8_models.ProductError as e:
        row["error"] = str(e)
        print(f"{name}: not compiled yet: {row['error']}", flush=True)
        return row
    artifact = fp32["dir"]
    row["compile_seconds"] = fp32["compile_seconds"]
    row["compile_reused"] = fp32["reused"]
    row["library_bytes"] = fp32["library_bytes"]
    with open(os.path.join(artifact, "model_schema.json")) as f:
        schema = json.load(f)
    row["target"] = schema.get("target", {})

    # One input per graph input, shared by every engine.
    rng = np.random.default_rng(0)
    input_args, shapes = [], []
    for tensor in schema["inputs"]:
        file = os.path.join(work, f"{name}.{tensor['name'].replace('/', '_')}.npy")
        np.save(file, rng.random(tensor["shape"], dtype=np.float32))
        input_args.append(f"{tensor['name']}={file}")
        shapes.append(tensor["shape"])
    row["input_shapes"] = shapes
    if onnx_input_shapes(path) != {t["name"]: t["shape"] for t in schema["inputs"]}:
        print(f"{name}: note: the ONNX declares other input shapes than the artifact; ORT gets the artifact's",
              flush=True)

    targets = {"leip": artifact, "ort": path}
    if args.int8:
        targets.update(prepare_int8(args, name, path, input_args, row))
    if "library_bytes" in row.get("int8", {}):
        row["int8"]["size_ratio"] = row["int8"]["library_bytes"] / row["library_bytes"]

    for threads in args.threads:
        best = {engine: None for engine in targets}
        errors = {}
        for round_index in range(args.rounds):
            # Cores of a shared machine can differ by tens of percent (a noisy neighbour):
            # a 1-thread round runs every engine on the same core, the next round on the next.
            pin = []
            if int(threads) == 1 and shutil.which("taskset") and hasattr(os, "sched_getaffinity"):
                cores = sorted(os.sched_getaffinity(0))
                pin = ["taskset", "-c", str(cores[round_index % len(cores)])]
            for engine in ENGINES:
                if engine not in targets or engine in errors:
                    continue
                result, error = measure(args, engine, targets[engine], threads, pin, input_args)
                if error is not None:
                    if engine in ("leip", "ort"):
                        hint = "" if engine == "leip" else " (bash tools/install-deps.sh installs onnxruntime-node)"
                        sys.exit(f"benchmark: {ENGINE_NAMES[engine]} failed for {name}{hint}: {error}")
                    errors[engine] = error  # a new int8 path may fail: report it, keep the others
                    print(f"{name}: {ENGINE_NAMES[engine]} failed at {threads} thread(s): {error}", flush=True)
                    continue
                if best[engine] is None or result["median_ms"] < best[engine]["median_ms"]:
                    best[engine] = result
        result = {"threads": threads, **{e: r for e, r in best.items() if r is not None},
                  "ratio": best["leip"]["median_ms"] / best["ort"]["median_ms"]}
        if errors:
            result["errors"] = errors
        med = {e: r["median_ms"] for e, r in best.items() if r is not None}
        if "ort_int8" in med:
            result["ort_int8_vs_ort"] = med["ort_int8"] / med["ort"]
        if "leip_int8" in med:
            result["leip_int8_vs_ort"] = med["leip_int8"] / med["ort"]
            if "ort_int8" in med:
                result["leip_int8_vs_ort_int8"] = med["leip_int8"] / med["ort_int8"]
        row["results"].append(result)
        line = f"{name:20s} threads {threads}: " + "   ".join(f"{ENGINE_NAMES[e]} {med[e]:9.3f} ms" for e in ENGINES
                                                               if e in med)
        print(line + f"   leip/ORT fp32 {result['ratio']:.2f}", flush=True)
    return row


def shape_text(shapes):
    return "; ".join("x".join(str(d) for d in s) for s in shapes)


def table(rows):
    lines = ["| model | input | threads | leip median ms | ORT median ms | ratio leip/ORT | leip min ms | ORT min ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        for r in row["results"]:
            lines.append(f"| {row['model']} | {shape_text(row['input_shapes'])} | {r['threads']} | "
                         f"{r['leip']['median_ms']:.3f} | {r['ort']['median_ms']:.3f} | **{r['ratio']:.2f}** | "
                         f"{r['leip']['min_ms']:.3f} | {r['ort']['min_ms']:.3f} |")
    return "\n".join(lines)


def ms_cell(r, engine):
    return f"{r[engine]['median_ms']:.3f}" if engine in r else "n/a"


def ratio_cell(r, key, target=None):
    if key not in r:
        return "n/a"
    mark = "" if target is None else (" (met)" if r[key] <= target else " (missed)")
    return f"**{r[key]:.2f}**{mark}"


def int8_table(rows):
    lines = ["| model | threads | ORT fp32 ms | ORT int8 ms | ORT int8/fp32 | leip fp32 ms | leip int8 ms | "
             f"leip int8 / ORT fp32 (target <= {TARGET_INT8_VS_ORT_FP32}) | "
             f"leip int8 / ORT int8 (target <= {TARGET_INT8_VS_ORT_INT8}) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        for r in row["results"]:
            lines.append(f"| {row['model']} | {r['threads']} | {ms_cell(r, 'ort')} | {ms_cell(r, 'ort_int8')} | "
                         f"{ratio_cell(r, 'ort_int8_vs_ort')} | {ms_cell(r, 'leip')} | {ms_cell(r, 'leip_int8')} | "
                         f"{ratio_cell(r, 'leip_int8_vs_ort', TARGET_INT8_VS_ORT_FP32)} | "
                         f"{ratio_cell(r, 'leip_int8_vs_ort_int8', TARGET_INT8_VS_ORT_INT8)} |")
    return "\n".join(lines)


def size_table(rows):
    lines = ["| model | fp32 .so bytes | int8 .so bytes | int8/fp32 |", "|---|---:|---:|---:|"]
    for row in rows:
        info = row.get("int8", {})
        int8 = f"{info['library_bytes']:,}" if "library_bytes" in info else "n/a"
        ratio = f"**{info['size_ratio']:.2f}**" if "size_ratio" in info else "n/a"
        if "size_ratio" in info and row["model"] == "resnet18":
            ratio += " (met)" if info["size_ratio"] <= TARGET_SIZE else " (missed)"
        lines.append(f"| {row['model']} | {row['library_bytes']:,} | {int8} | {ratio} |")
    return "\n".join(lines)


def int8_notes(rows):
    """One line per model: compress time and storage, what ORT runs, why a row is missing."""
    lines = []
    for row in rows:
        info = row.get("int8")
        if not info:
            continue
        if "error" in info:
            lines.append(f"- {row['model']}: int8 unavailable: `{info['error']}`")
            continue
        parts = [f"compress {info['compress_seconds']:.1f} s"]
        parts.append("ONNX Runtime int8 runs " + int8_models.ort_graph_text(info["ort_graph"]))
        if "leip_error" in info:
            parts.append(f"leip int8 unavailable: `{info['leip_error']}`")
        failed = {e: err for r in row["results"] for e, err in r.get("errors", {}).items()}
        parts += [f"{ENGINE_NAMES[e]} failed: `{err}`" for e, err in failed.items()]
        lines.append(f"- {row['model']}: " + "; ".join(parts))
    return lines


def scaling_lines(rows):
    lines = []
    for row in rows:
        by_threads = {r["threads"]: r for r in row["results"]}
        if 1 not in by_threads or len(by_threads) < 2:
            continue
        base = by_threads[1]
        cells = [f"{t} threads: " + ", ".join(f"{ENGINE_NAMES[e]} {base[e]['median_ms'] / r[e]['median_ms']:.2f}x"
                                               for e in ENGINES if e in base and e in r)
                 for t, r in sorted(by_threads.items()) if t != 1]
        lines.append(f"- {row['model']}: " + "; ".join(cells))
    return lines


def command_line(argv):
    return "/usr/bin/python3 tools/benchmark.py" + "".join(" " + a for a in argv)


def storage_line(rows):
    for row in rows:
        if "storage" in row.get("int8", {}):
            return int8_models.storage_text(row["int8"]["storage"])
    return "n/a"


def gpu_section():
    """docs/performance.md's GPU part: the newest docs/data/gpu-check-*.json, which
    tools/gpu_check.py wrote on a GPU machine (the CPU benchmark above cannot measure it)."""
    files = sorted(glob.glob(os.path.join(ROOT, "docs", "data", "gpu-check-*.json")))
    if not files:
        return []
    with open(files[-1]) as f:
        data = json.load(f)
    lines = ["## NVIDIA GPUs (`--target cuda`)", "",
             f"From the GPU check of {data['date']} (`tools/gpu-check.sh`, raw numbers in "
             f"[{os.path.relpath(files[-1], os.path.join(ROOT, 'docs'))}]"
             f"({os.path.relpath(files[-1], os.path.join(ROOT, 'docs'))})); how it was run and what PyTorch does on "
             "the same GPU: [cuda.md](cuda.md#results). Median of 100 runs with the host-device copies; "
             "relative error against ONNX Runtime CPU (fp32) or leip's x86_64 int8 artifact (int8).", "",
             "| case | GPU | rel. error | median ms | p90 ms |", "|---|---|---:|---:|---:|"]
    for run in data["runs"].values():
        gpus = run.get("machine", {}).get("gpus") or [""]
        gpu = gpus[0].split(",")[0].replace("NVIDIA ", "")
        for c in run.get("cases", []):
            if c.get("status") == "pass":
                lines.append(f"| {c['name']} | {gpu} | {c['rel_error']:.1e} | {c['median_ms']:.3f} | {c['p90_ms']:.3f} |")
    return lines + [""]


def round_trip_text(meta):
    before, after = (meta.get("core_round_trip_ns") or [None, None])[:2]
    if before is None or after is None:
        return "not measured"
    return f"{before:.0f} ns before the run, {after:.0f} ns after"


def write_doc(path, args, rows, cpu, meta):
    compiled = [r for r in rows if "error" not in r]
    failed = [r for r in rows if "error" in r]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["flags"].items())
    parts = [
        "# Performance: leip against ONNX Runtime",
        "",
        "Written by `tools/benchmark.py`; do not edit by hand, rerun it. Median latency of one inference "
        "(batch as shown), leip's compiled `modelLibrary.so` (`leip benchmark`) against ONNX Runtime "
        f"{meta['ort_version']} (`onnxruntime-node`, graph optimization level `all`, `intraOpNumThreads` = "
        "threads; `tools/ort_benchmark.js`), same random input, same warm-up and iteration counts, in the "
        "same run. **ratio < 1 means leip is faster.** Each engine's best median over "
        f"{args.rounds} alternating round(s) is shown, because the machine is shared; 1-thread rounds pin all "
        "engines to the same core, a different core each round (the cores of this shared machine differ)."
        + (" Every engine ran under SCHED_FIFO (`--realtime`): other jobs on the machine could not preempt it, "
           "and during 1-thread runs the other cores ran an idle loop at the same priority."
           if getattr(args, "realtime", False) else ""),
        "",
        f"- CPU: {cpu['model']}, {cpu['cpus']} logical CPUs; {flags}",
        f"- leip target: {meta.get('target', 'n/a')}",
        f"- load average when the run started: {meta['load']} (other processes share these cores: absolute "
        "times are noisy, the ratio is what to read)",
        f"- core-to-core round trip of a cache line: {round_trip_text(meta)} (where the cores share "
        "no cache, every value one thread writes and another reads crosses; multi-threaded times of both "
        "engines depend on it)",
        f"- date: {meta['date']}; leip {meta['leip_version']}; {args.iterations} timed iterations after "
        f"{args.warmup} warm-up runs per engine and thread count",
        "",
        "## Results",
        "",
        table(compiled) if compiled else "(no model compiled)",
        "",
    ]
    int8_rows = [r for r in compiled if "int8" in r]
    if int8_rows:
        s = args.int8_settings
        parts += [
            "## int8",
            "",
            f"The QDQ model is `leip compress --quantizer {s['quantizer']} --data_type {s['data_type']} "
            f"--calibration {s['calibration']}` (calibration: {int8_models.TORCHVISION_CALIBRATION_SAMPLES} "
            f"N(0, 1) images for the torchvision models, the first {int8_models.FMNIST_CALIBRATION_SAMPLES} "
            f"Fashion-MNIST training images for the examples; {storage_line(int8_rows)}). leip int8 is "
            "`leip compile --data_type int8` of that model; ORT int8 is ONNX Runtime running the same "
            "`model.onnx`. Ratios below 1 mean leip is faster; targets as in issue 6.",
            "",
            int8_table(int8_rows),
            "",
            "Size of `modelLibrary.so` (target for resnet18: int8 <= "
            f"{TARGET_SIZE}x fp32):",
            "",
            size_table(int8_rows),
            "",
        ] + int8_notes(int8_rows) + [""]
    scaling = scaling_lines(compiled)
    if scaling:
        parts += ["Speed-up from more threads (median at 1 thread / median at T threads):", ""] + scaling + [""]
    parts += gpu_section()
    parts += ["Where the time goes, layer by layer, and how to profile: "
              "[performance-notes.md](performance-notes.md).", ""]
    if failed:
        parts += ["## Not compiled yet", ""]
        parts += [f"- {r['model']}: `{r['error']}`" for r in failed]
        parts.append("")
    parts += [
        "## Reproduce",
        "",
        "```",
        "bash tools/build.sh            # builds build/src/cli/leip",
        "bash tools/install-deps.sh     # onnxruntime-node into third_party/ (once)",
        command_line(meta["argv"]),
        "```",
        "",
        "`build/benchmark/results.json` holds every number (min, median, p90, mean per engine). One model by "
        "hand: `leip compile --input_path M.onnx --output_path out && leip benchmark --input_path out --threads 2` "
        "and `node tools/ort_benchmark.js --threads=2 M.onnx input.npy`; the QDQ models alone, with what ONNX "
        "Runtime makes of them: `/usr/bin/python3 tools/int8_models.py`.",
        "",
        "Threads: a leip context uses 1 thread unless told otherwise (`leip_context_set_threads`, "
        "`leip benchmark --threads`); each node's tasks are split into chunks that the context's threads "
        "claim, so outputs are bitwise identical for any thread count.",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(TORCHVISION + EXAMPLES))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of all engines; best median kept")
    parser.add_argument("--no_int8", dest="int8", action="store_false",
                        help="fp32 rows only (int8 rows are the default)")
    int8_models.add_settings_arguments(parser)
    parser.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--leip", default=None, help="leip binary (default BUILD/src/cli/leip)")
    parser.add_argument("--models_dir", default=None, help="torchvision exports (default BUILD/models)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "performance.md"),
                        help="the Markdown report written (a scratch path for smoke runs)")
    parser.add_argument("--results", default=None, help="every number as JSON (default BUILD/benchmark/results.json)")
    parser.add_argument("--no_write", action="store_true", help="print the tables only (results JSON still written)")
    parser.add_argument("--render_only", action="store_true",
                        help="measure nothing: rewrite --output from the --results JSON of an earlier run (and the "
                        "newest docs/data/gpu-check-*.json)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per command")
    parser.add_argument("--realtime", action="store_true",
                        help="run the engines under SCHED_FIFO (root and chrt needed) so that other processes on a "
                        "shared machine cannot preempt them; 1-thread runs keep the other cores in an idle loop")
    args = parser.parse_args()
    if args.render_only:
        with open(args.results or os.path.join(args.build_dir, "benchmark", "results.json")) as f:
            saved = json.load(f)
        # The measuring run's own flags decide the text (rounds, iterations, warm-up).
        measured = parser.parse_args(saved["meta"]["argv"])
        measured.int8_settings = saved["int8_settings"]
        write_doc(args.output, measured, saved["models"], saved["cpu"], saved["meta"])
        print(f"wrote {os.path.relpath(args.output)} from the saved results")
        return
    args.leip = args.leip or os.path.join(args.build_dir, "src", "cli", "leip")
    args.models_dir = args.models_dir or os.path.join(args.build_dir, "models")
    args.int8_settings = int8_models.settings_from(args)
    if not os.access(args.leip, os.X_OK):
        sys.exit(f"benchmark: {args.leip} is not built; run bash tools/build.sh")
    if shutil.which("node") is None:
        sys.exit("benchmark: node is not on PATH; run bash tools/install-deps.sh")

    models = model_list(args)
    ensure_torchvision(args, [n for n, _ in models])
    work = args.work = os.path.join(args.build_dir, "benchmark")
    os.makedirs(work, exist_ok=True)
    if args.realtime:
        if os.geteuid() != 0 or shutil.which("chrt") is None:
            sys.exit("benchmark: --realtime needs root and chrt (util-linux) for SCHED_FIFO")
        args.idle_loop = build_idle_loop(work)
    results_path = args.results or os.path.join(work, "results.json")
    cpu = cpu_info()
    rc, out, _ = run([args.leip, "--version"], timeout=60)
    meta = {"argv": sys.argv[1:], "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "leip_version": out.strip().split()[-1],
            "ort_version": "?"}
    meta["core_round_trip_ns"] = [core_round_trip(args, work)]
    rows = [benchmark_model(args, name, path, work) for name, path in models]
    meta["core_round_trip_ns"].append(core_round_trip(args, work))
    for row in rows:
        for r in row["results"]:
            meta["ort_version"] = r["ort"].get("ort_version", "?")
        if row.get("target"):
            t = row["target"]
            features = t.get("features", "")
            simd = [f for f in ("avx2", "fma", "avx512f", "avx512vnni", "avxvnni", "dotprod", "i8mm")
                    if f"+{f}" in features.split(",")]
            meta["target"] = f"{t.get('arch')} (cpu {t.get('cpu')}; features used: {', '.join(simd) or 'baseline'})"

    print()
    print(f"CPU: {cpu['model']} ({cpu['cpus']} CPUs), load average {meta['load']}; "
          + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["flags"].items()))
    print(f"core-to-core round trip: {round_trip_text(meta)}")
    compiled = [r for r in rows if "error" not in r]
    if compiled:
        print(table(compiled))
    int8_rows = [r for r in compiled if "int8" in r]
    if int8_rows:
        print()
        print(int8_table(int8_rows))
        print()
        print(size_table(int8_rows))
        print("\n".join(int8_notes(int8_rows)))
    for r in rows:
        if "error" in r:
            print(f"{r['model']}: not compiled yet: {r['error']}")
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    with open(results_path, "w") as f:
        json.dump({"cpu": cpu, "meta": meta, "int8_settings": args.int8_settings if args.int8 else None,
                   "models": rows}, f, indent=2)
    if not args.no_write:
        write_doc(args.output, args, rows, cpu, meta)
        print(f"\nwrote {os.path.relpath(args.output)} and {os.path.relpath(results_path)}")


if __name__ == "__main__":
    main()
