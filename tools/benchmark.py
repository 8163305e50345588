#!/usr/bin/env python3
"""leip against ONNX Runtime: median latency of compiled artifacts and of ORT on the same
machine, in the same run, as a ratio.

For each model (torchvision resnet18 and mobilenet_v2 at 1x3x224x224, exported with
tools/export_torchvision.py when missing, and the Fashion-MNIST examples at batch 1):

  1. `leip compile` for the host into BUILD/benchmark/<model>/ (a model that does not
     compile yet is listed as "not compiled yet" with the error's first line);
  2. one random input (uniform [0, 1), seed 0) written as .npy and fed to both engines;
  3. for each thread count T: `leip benchmark --json --threads T` on the artifact and
     `node tools/ort_benchmark.js --threads=T` (onnxruntime-node, graphOptimizationLevel
     'all', intraOpNumThreads T), same warm-up and iteration counts, alternating
     leip/ORT for --rounds rounds; each engine's best (lowest) median over the rounds is kept,
     which filters out bursts of load from other processes on a shared machine.

Prints a table with the ratio leip/ORT of median latency (< 1: leip is faster) and writes it
to docs/performance.md with the CPU model, its AVX2/AVX-512/VNNI flags, the load average and
the command to reproduce; BUILD/benchmark/results.json holds every number.

    /usr/bin/python3 tools/benchmark.py                       # all models, 1 and 2 threads
    /usr/bin/python3 tools/benchmark.py --models resnet18 --threads 1 --no_write

Not a test: these machines are noisy, so speed is reported, not asserted.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TORCHVISION = ("resnet18", "mobilenet_v2")
EXAMPLES = ("fmnist_cnn", "fmnist_mobilenetv2", "fmnist_resnet")


def run(args, timeout):
    proc = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def first_line(text):
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


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
    info["flags"] = {flag: flag in flags for flag in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16")}
    return info


def model_list(args):
    models = []
    for name in args.models:
        if name in TORCHVISION:
            models.append((name, os.path.join(args.models_dir, name + ".onnx")))
        elif name in EXAMPLES:
            models.append((name, os.path.join(ROOT, "models", name + ".onnx")))
        else:
            sys.exit(f"benchmark: unknown model '{name}' (known: {', '.join(TORCHVISION + EXAMPLES)})")
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


def benchmark_model(args, name, path, work):
    row = {"model": name, "path": path, "results": []}
    artifact = os.path.join(work, name)
    rc, out, err = run([args.leip, "compile", "--input_path", path, "--output_path", artifact, "--json"],
                       timeout=args.timeout)
    if rc != 0:
        row["error"] = first_line(err or out)
        print(f"{name}: not compiled yet: {row['error']}", flush=True)
        return row
    row["compile_seconds"] = json.loads(out)["seconds"]
    with open(os.path.join(artifact, "model_schema.json")) as f:
        schema = json.load(f)
    row["target"] = schema.get("target", {})

    # One input per graph input, shared by both engines.
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

    for threads in args.threads:
        best = {"leip": None, "ort": None}
        for round_index in range(args.rounds):
            # Cores of a shared machine can differ by tens of percent (a noisy neighbour):
            # a 1-thread round runs both engines on the same core, the next round on the next.
            pin = []
            if int(threads) == 1 and shutil.which("taskset") and hasattr(os, "sched_getaffinity"):
                cores = sorted(os.sched_getaffinity(0))
                pin = ["taskset", "-c", str(cores[round_index % len(cores)])]
            leip_cmd = pin + [args.leip, "benchmark", "--input_path", artifact, "--threads", threads, "--iterations",
                        args.iterations, "--warmup", args.warmup, "--json"]
            for arg in input_args:
                leip_cmd += ["--input", arg]
            rc, out, err = run(leip_cmd, timeout=args.timeout)
            if rc != 0:
                sys.exit(f"benchmark: leip benchmark failed for {name}:\n{err[-2000:]}")
            leip = json.loads(out)
            ort_cmd = pin + ["node", os.path.join(ROOT, "tools", "ort_benchmark.js"), f"--threads={threads}",
                       f"--iterations={args.iterations}", f"--warmup={args.warmup}", "--opt_level=all", path,
                       *input_args]
            rc, out, err = run(ort_cmd, timeout=args.timeout)
            if rc != 0:
                sys.exit(f"benchmark: ONNX Runtime failed for {name} (bash tools/install-deps.sh installs "
                         f"onnxruntime-node):\n{err[-2000:]}")
            ort = json.loads(out)
            for key, result in (("leip", leip), ("ort", ort)):
                if best[key] is None or result["median_ms"] < best[key]["median_ms"]:
                    best[key] = result
        result = {"threads": threads, "leip": best["leip"], "ort": best["ort"],
                  "ratio": best["leip"]["median_ms"] / best["ort"]["median_ms"]}
        row["results"].append(result)
        print(f"{name:20s} threads {threads}: leip {best['leip']['median_ms']:9.3f} ms   "
              f"ORT {best['ort']['median_ms']:9.3f} ms   ratio {result['ratio']:.2f}", flush=True)
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


def scaling_lines(rows):
    lines = []
    for row in rows:
        by_threads = {r["threads"]: r for r in row["results"]}
        if 1 not in by_threads or len(by_threads) < 2:
            continue
        base = by_threads[1]
        cells = [f"{t} threads: leip {base['leip']['median_ms'] / r['leip']['median_ms']:.2f}x, "
                 f"ORT {base['ort']['median_ms'] / r['ort']['median_ms']:.2f}x"
                 for t, r in sorted(by_threads.items()) if t != 1]
        lines.append(f"- {row['model']}: " + "; ".join(cells))
    return lines


def command_line(argv):
    return "/usr/bin/python3 tools/benchmark.py" + "".join(" " + a for a in argv)


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
        f"{args.rounds} alternating round(s) is shown, because the machine is shared; 1-thread rounds pin both "
        "engines to the same core, a different core each round (the cores of this shared machine differ).",
        "",
        f"- CPU: {cpu['model']}, {cpu['cpus']} logical CPUs; {flags}",
        f"- leip target: {meta.get('target', 'n/a')}",
        f"- load average when the run started: {meta['load']} (other processes share these cores: absolute "
        "times are noisy, the ratio is what to read)",
        f"- date: {meta['date']}; leip {meta['leip_version']}; {args.iterations} timed iterations after "
        f"{args.warmup} warm-up runs per engine and thread count",
        "",
        "## Results",
        "",
        table(compiled) if compiled else "(no model compiled)",
        "",
    ]
    scaling = scaling_lines(compiled)
    if scaling:
        parts += ["Speed-up from more threads (median at 1 thread / median at T threads):", ""] + scaling + [""]
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
        "and `node tools/ort_benchmark.js --threads=2 M.onnx input.npy`.",
        "",
        "Threads: a leip context uses 1 thread unless told otherwise (`leip_context_set_threads`, "
        "`leip benchmark --threads`); each node's tasks are split into chunks that the context's threads "
        "claim, so outputs are bitwise identical for any thread count.",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(TORCHVISION + EXAMPLES))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating leip/ORT rounds; best median kept")
    parser.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--leip", default=None, help="leip binary (default BUILD/src/cli/leip)")
    parser.add_argument("--models_dir", default=None, help="torchvision exports (default BUILD/models)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "performance.md"))
    parser.add_argument("--no_write", action="store_true", help="print the table only")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per command")
    args = parser.parse_args()
    args.leip = args.leip or os.path.join(args.build_dir, "src", "cli", "leip")
    args.models_dir = args.models_dir or os.path.join(args.build_dir, "models")
    if not os.access(args.leip, os.X_OK):
        sys.exit(f"benchmark: {args.leip} is not built; run bash tools/build.sh")
    if shutil.which("node") is None:
        sys.exit("benchmark: node is not on PATH; run bash tools/install-deps.sh")

    models = model_list(args)
    ensure_torchvision(args, [n for n, _ in models])
    work = os.path.join(args.build_dir, "benchmark")
    os.makedirs(work, exist_ok=True)
    cpu = cpu_info()
    rc, out, _ = run([args.leip, "--version"], timeout=60)
    meta = {"argv": sys.argv[1:], "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "leip_version": out.strip().split()[-1],
            "ort_version": "?"}
    rows = [benchmark_model(args, name, path, work) for name, path in models]
    for row in rows:
        for r in row["results"]:
            meta["ort_version"] = r["ort"].get("ort_version", "?")
        if row.get("target"):
            t = row["target"]
            features = t.get("features", "")
            simd = [f for f in ("avx2", "fma", "avx512f", "avx512vnni") if f"+{f}" in features.split(",")]
            meta["target"] = f"{t.get('arch')} (cpu {t.get('cpu')}; features used: {', '.join(simd) or 'baseline'})"

    print()
    print(f"CPU: {cpu['model']} ({cpu['cpus']} CPUs), load average {meta['load']}")
    compiled = [r for r in rows if "error" not in r]
    if compiled:
        print(table(compiled))
    for r in rows:
        if "error" in r:
            print(f"{r['model']}: not compiled yet: {r['error']}")
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump({"cpu": cpu, "meta": meta, "models": rows}, f, indent=2)
    if not args.no_write:
        write_doc(args.output, args, rows, cpu, meta)
        print(f"\nwrote {os.path.relpath(args.output)} and {os.path.relpath(os.path.join(work, 'results.json'))}")


if __name__ == "__main__":
    main()
