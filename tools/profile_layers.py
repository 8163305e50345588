#!/usr/bin/python3
"""Where the time goes: leip's compiled nodes and ONNX Runtime's nodes, slowest first.

    /usr/bin/python3 tools/profile_layers.py MODEL.onnx INPUT.npy [--threads T] [--top N]

Compiles MODEL with `leip -v compile` (which logs each node function's op, output and task
count), runs `leip benchmark` on it with LEIP_PROFILE=1 (per-node wall time, printed by the
runtime), and runs ONNX Runtime on the same model and input with its profiler
(tools/ort_benchmark.js --profile). Prints the two tables side by side in time order; ORT
names its fused nodes after their last output, so match layers by the names. See
docs/performance-notes.md.
"""
import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEIP = os.path.join(ROOT, "build", "src", "cli", "leip")


def run(cmd, env=None):
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"profile_layers: {' '.join(cmd[:3])} ... failed:\n{result.stderr[-2000:]}")
    return result


def leip_nodes(model, artifact):
    """Node number -> (op, description) from the compiler's debug log."""
    log = run([LEIP, "-v", "compile", "--input_path", model, "--output_path", artifact]).stderr
    nodes = {}
    for m in re.finditer(r"leip_node_(\d+): node '([^']*)' \((\w+)\) -> (\S+), (\d+) tasks", log):
        nodes[int(m.group(1))] = (m.group(3), f"{m.group(2)} -> {m.group(4)}")
    return nodes


def leip_profile(artifact, threads, iterations):
    env = dict(os.environ, LEIP_PROFILE="1")
    err = run([LEIP, "benchmark", "--input_path", artifact, "--threads", str(threads), "--iterations",
               str(iterations)], env=env).stderr
    times = {}
    for m in re.finditer(r"node\s+(\d+)\s+([0-9.]+) ms", err):
        times[int(m.group(1))] = float(m.group(2)) * 1000.0
    return times


def ort_profile(model, data, threads, iterations, workdir):
    prefix = os.path.join(workdir, "ort")
    run(["node", os.path.join(ROOT, "tools", "ort_benchmark.js"), f"--threads={threads}",
         f"--iterations={iterations}", f"--profile={prefix}", model, data])
    trace = sorted(glob.glob(prefix + "_*.json"))[-1]
    samples = collections.defaultdict(list)
    ops = {}
    for event in json.load(open(trace)):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            name = event["name"][: -len("_kernel_time")]
            samples[name].append(event["dur"])
            ops[name] = event.get("args", {}).get("op_name", "?")
    # The first runs are the warm-up ones.
    return {name: (ops[name], sum(v[-iterations:]) / len(v[-iterations:])) for name, v in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leip-profile-") as work:
        artifact = os.path.join(work, "artifact")
        nodes = leip_nodes(args.model, artifact)
        leip = leip_profile(artifact, args.threads, args.iterations)
        ort = ort_profile(args.model, args.input, args.threads, args.iterations, work)
    print(f"leip: {sum(leip.values()):.0f} us per run over {len(leip)} nodes; "
          f"ONNX Runtime: {sum(t for _, t in ort.values()):.0f} us over {len(ort)} nodes "
          f"({args.threads} thread(s), mean of {args.iterations} runs)\n")
    print("leip (us, node, op, name -> output)")
    for n, us in sorted(leip.items(), key=lambda kv: -kv[1])[: args.top]:
        op, text = nodes.get(n, ("?", "(output copy)"))
        print(f"{us:9.1f}  {n:4d}  {op:12s} {text}")
    print("\nONNX Runtime (us, op, node)")
    for name, (op, us) in sorted(ort.items(), key=lambda kv: -kv[1][1])[: args.top]:
        print(f"{us:9.1f}  {op:12s} {name}")


if __name__ == "__main__":
    main()
