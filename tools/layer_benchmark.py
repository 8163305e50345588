#!/usr/bin/python3
"""Single convolution layers of resnet18 and mobilenet_v2, leip against ONNX Runtime.

    /usr/bin/python3 tools/layer_benchmark.py [--iterations N] [--threads T] [NAME ...]

Builds one-layer ONNX models (Conv + Relu, random weights) with the layer shapes of
resnet18 and mobilenet_v2, compiles each with `leip compile`, and prints the minimum
latency of `leip benchmark` and of ONNX Runtime (tools/ort_benchmark.js) with GFLOP/s
(2 x multiply-adds / time). The per-layer table of docs/performance-notes.md comes from it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEIP = os.path.join(ROOT, "build", "src", "cli", "leip")

# name: (input channels, output channels, input size, kernel, stride, group)
LAYERS = {
    "resnet18_conv1": (3, 64, 224, 7, 2, 1),
    "resnet18_layer1": (64, 64, 56, 3, 1, 1),
    "resnet18_layer2": (128, 128, 28, 3, 1, 1),
    "resnet18_layer2_stride2": (64, 128, 56, 3, 2, 1),
    "resnet18_layer3": (256, 256, 14, 3, 1, 1),
    "resnet18_layer4": (512, 512, 7, 3, 1, 1),
    "resnet18_layer4_stride2": (256, 512, 14, 3, 2, 1),
    "mobilenet_v2_stem": (3, 32, 224, 3, 2, 1),
    "mobilenet_v2_1x1_16_96": (16, 96, 112, 1, 1, 1),
    "mobilenet_v2_1x1_32_192": (32, 192, 56, 1, 1, 1),
    "mobilenet_v2_1x1_320_1280": (320, 1280, 7, 1, 1, 1),
    "mobilenet_v2_depthwise_32_112": (32, 32, 112, 3, 1, 32),
    "mobilenet_v2_depthwise_96_112_stride2": (96, 96, 112, 3, 2, 96),
    "mobilenet_v2_depthwise_144_56": (144, 144, 56, 3, 1, 144),
    "mobilenet_v2_depthwise_576_14": (576, 576, 14, 3, 1, 576),
}


def make_layer(name, work, rng):
    c, k, size, kernel, stride, group = LAYERS[name]
    pad = kernel // 2
    out = (size + 2 * pad - kernel) // stride + 1
    w = (rng.standard_normal((k, c // group, kernel, kernel)) * 0.1).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[kernel, kernel], strides=[stride, stride],
                              pads=[pad] * 4, group=group),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, k, out, out])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model_path = os.path.join(work, name + ".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model_path)
    input_path = os.path.join(work, name + ".npy")
    np.save(input_path, rng.standard_normal((1, c, size, size)).astype(np.float32))
    flops = 2 * k * (c // group) * kernel * kernel * out * out
    return model_path, input_path, flops


def run_json(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"layer_benchmark: {' '.join(cmd[:3])} ... failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"layers (default: all): {', '.join(LAYERS)}")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for name in args.names:
        if name not in LAYERS:
            sys.exit(f"layer_benchmark: unknown layer '{name}'")
    rng = np.random.default_rng(0)
    print(f"| layer | leip ms | leip GFLOP/s | ORT ms | ORT GFLOP/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="leip-layers-") as work:
        for name in args.names or list(LAYERS):
            model, data, flops = make_layer(name, work, rng)
            artifact = os.path.join(work, name)
            run_json([LEIP, "compile", "--input_path", model, "--output_path", artifact, "--json"])
            leip = run_json([LEIP, "benchmark", "--input_path", artifact, "--input", data, "--threads",
                             str(args.threads), "--iterations", str(args.iterations), "--json"])["min_ms"]
            ort = run_json(["node", os.path.join(ROOT, "tools", "ort_benchmark.js"), f"--threads={args.threads}",
                            f"--iterations={args.iterations}", model, data])["min_ms"]
            print(f"| {name} | {leip:.3f} | {flops / leip / 1e6:.1f} | {ort:.3f} | {flops / ort / 1e6:.1f} | "
                  f"{leip / ort:.2f} |", flush=True)


if __name__ == "__main__":
    main()
