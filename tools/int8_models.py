#!/usr/bin/env python3
"""Quantized (QDQ) versions of the benchmark models, made by `leip compress`, cached.

tools/benchmark.py imports this for its int8 rows; run on its own, it prepares the models
and says what each one is:

  - the calibration data: for the torchvision exports (random weights, inputs normalized
    like ImageNet), 8 samples of N(0, 1) noise in the model's input shape, seed 0; for the
    Fashion-MNIST examples, the first 500 *training* images, preprocessed as tools/fmnist.py;
  - `leip compress --quantizer Q --data_type D --calibration C` into
    BUILD/benchmark/int8/<model>.<Q>-<D>-<C>/ (model.onnx, quant_params.json, report);
  - the storage of each tensor role from quant_params.json (dtype, zero points, per channel
    or per tensor), which decides whether ONNX Runtime can use its integer kernels;
  - which kernels ONNX Runtime runs for the QDQ model: the op counts of the graph it
    executes after optimization level 'all' (QLinearConv and QGemm are integer; Conv,
    FusedConv, Gemm between DequantizeLinear and QuantizeLinear are float).

Every product (compress output, compiled artifact) is reused while its inputs are unchanged:
a stamp <product>.inputs.json next to it holds the SHA-256 of the leip binary, of the input
model (or directory) and of the calibration data, and the command's flags.

    /usr/bin/python3 tools/int8_models.py                          # all five models
    /usr/bin/python3 tools/int8_models.py --models resnet18 --quantizer symmetricpc
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

TORCHVISION = ("resnet18", "mobilenet_v2")
EXAMPLES = ("fmnist_cnn", "fmnist_mobilenetv2", "fmnist_resnet")
TORCHVISION_CALIBRATION_SAMPLES = 8
FMNIST_CALIBRATION_SAMPLES = 500

# Ops of ONNX Runtime's optimized graph that compute on integers, and the float ops that do the
# same work when a QDQ group was not fused (they then run between DequantizeLinear and
# QuantizeLinear).
ORT_INTEGER_OPS = ("QLinearConv", "QGemm", "QLinearMatMul", "MatMulInteger", "ConvInteger", "MatMulIntegerToFloat",
                   "DynamicQuantizeMatMul", "QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearGlobalAveragePool",
                   "QLinearAveragePool", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax", "QLinearWhere",
                   "QLinearReduceMean", "QLinearPool", "QLinearSplit")
ORT_FLOAT_OPS = ("Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul")


def run(args, timeout):
    proc = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def first_line(text):
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


_digests = {}


def digest(path):
    """SHA-256 of a file, or of a directory's files (names and contents, sorted)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        h = hashlib.sha256()
        for base, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                file = os.path.join(base, name)
                h.update(os.path.relpath(file, path).encode() + b"\0" + digest(file).encode())
        return h.hexdigest()
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _digests:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _digests[key] = h.hexdigest()
    return _digests[key]


def cached(product, inputs, make):
    """Runs make() unless `product` exists with a stamp recording the same `inputs` (a dict of
    digests and flags). make() returns a dict (stored in the stamp) or raises ProductError.
    Returns (that dict, reused)."""
    stamp = product + ".inputs.json"
    if os.path.exists(product) and os.path.isfile(stamp):
        with open(stamp) as f:
            saved = json.load(f)
        if saved.get("inputs") == inputs:
            return saved["result"], True
    if os.path.exists(stamp):
        os.remove(stamp)
    shutil.rmtree(product, ignore_errors=True)
    result = make()
    with open(stamp + ".tmp", "w") as f:
        json.dump({"inputs": inputs, "result": result}, f, indent=2)
    os.replace(stamp + ".tmp", stamp)
    return result, False


class ProductError(Exception):
    """A leip command failed; the message is its first line of output."""


def model_path(name, models_dir):
    if name in TORCHVISION:
        return os.path.join(models_dir, name + ".onnx")
    if name in EXAMPLES:
        return os.path.join(ROOT, "models", name + ".onnx")
    raise ValueError(f"unknown model '{name}' (known: {', '.join(TORCHVISION + EXAMPLES)})")


def input_shape(path):
    """The shape of the ONNX graph's first real input (dynamic dims -> 1)."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    for value in model.graph.input:
        if value.name not in initializers:
            dims = value.type.tensor_type.shape.dim
            return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims]
    raise ValueError(f"{path}: no graph input")


def calibration_data(name, path, work):
    """The calibration .npy for a model (see the module docstring), written once."""
    folder = os.path.join(work, "calibration")
    os.makedirs(folder, exist_ok=True)
    if name in EXAMPLES:
        file = os.path.join(folder, f"fmnist_train_{FMNIST_CALIBRATION_SAMPLES}.npy")
        if not os.path.isfile(file):
            import fmnist
            images, _ = fmnist.load("train", FMNIST_CALIBRATION_SAMPLES)
            np.save(file + ".tmp.npy", images)
            os.replace(file + ".tmp.npy", file)
        return file
    shape = [TORCHVISION_CALIBRATION_SAMPLES] + input_shape(path)[1:]
    file = os.path.join(folder, "normal_seed0_" + "x".join(str(d) for d in shape) + ".npy")
    if not os.path.isfile(file):
        data = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        np.save(file + ".tmp.npy", data)
        os.replace(file + ".tmp.npy", file)
    return file


def compress_flags(settings):
    return ["--quantizer", settings["quantizer"], "--data_type", settings["data_type"], "--calibration",
            settings["calibration"]]


def settings_tag(settings):
    return f"{settings['quantizer']}-{settings['data_type']}-{settings['calibration']}"


def compress(leip, name, path, work, settings, timeout=3600):
    """`leip compress` of one model, cached. Returns {dir, model, seconds, reused, storage,
    calibration}; raises ProductError when compress fails."""
    calibration = calibration_data(name, path, work)
    out = os.path.join(work, "int8", f"{name}.{settings_tag(settings)}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    inputs = {"leip": digest(leip), "model": digest(path), "calibration": digest(calibration),
              "flags": compress_flags(settings)}

    def make():
        start = time.monotonic()
        rc, stdout, stderr = run([leip, "compress", "--input_path", path, "--output_path", out, "--rep_dataset",
                                  calibration, *compress_flags(settings), "--json"], timeout)
        if rc != 0:
            raise ProductError(first_line(stderr or stdout))
        return {"seconds": round(time.monotonic() - start, 2)}

    result, reused = cached(out, inputs, make)
    return {"dir": out, "model": os.path.join(out, "model.onnx"), "seconds": result["seconds"], "reused": reused,
            "storage": storage_summary(os.path.join(out, "quant_params.json")), "calibration": calibration}


def compile_artifact(leip, source, out, flags, timeout=3600):
    """`leip compile --input_path source --output_path out FLAGS --json`, cached. Returns
    {dir, library, library_bytes, compile_seconds, reused}; raises ProductError on failure."""
    inputs = {"leip": digest(leip), "source": digest(source), "flags": list(flags)}

    def make():
        rc, stdout, stderr = run([leip, "compile", "--input_path", source, "--output_path", out, *flags, "--json"],
                                 timeout)
        if rc != 0:
            raise ProductError(first_line(stderr or stdout))
        return {"compile_seconds": json.loads(stdout)["seconds"]}

    result, reused = cached(out, inputs, make)
    library = os.path.join(out, "modelLibrary.so")
    return {"dir": out, "library": library, "library_bytes": os.path.getsize(library),
            "compile_seconds": result["compile_seconds"], "reused": reused}


def storage_summary(quant_params):
    """{role: sorted descriptions such as 'i8 zp 0 per channel'} from quant_params.json. Zero
    points: 'zp 0', 'zp 128' (symmetric uint8) or 'zp from range' (asymmetric: per tensor or
    channel, from its calibrated range)."""
    with open(quant_params) as f:
        tensors = json.load(f)["tensors"]
    kinds = {}
    for t in tensors:
        zps = set(t["zero_point"] if isinstance(t["zero_point"], list) else [t["zero_point"]])
        zp = {frozenset([0]): "zp 0", frozenset([128]): "zp 128"}.get(frozenset(zps), "zp from range")
        layout = "per channel" if t["axis"] is not None else "per tensor"
        kinds.setdefault(t["role"], set()).add(f"{t['dtype']} {zp} {layout}")
    return {role: sorted(v) for role, v in kinds.items()}


def storage_text(storage):
    return "; ".join(f"{role}: {', '.join(kinds)}" for role, kinds in storage.items())


def ort_graph(model, input_args, out_file, timeout=600):
    """Op counts of the graph ONNX Runtime executes for `model` (level 'all', one thread):
    {integer: {op: n}, float: {op: n}, quantize: n, dequantize: n}, or {error: ...}."""
    rc, stdout, stderr = run(["node", os.path.join(ROOT, "tools", "ort_benchmark.js"), "--iterations=1", "--warmup=0",
                              "--opt_level=all", f"--optimized_model={out_file}", model, *input_args], timeout)
    if rc != 0:
        return {"error": first_line(stderr or stdout)}
    import onnx
    counts = {}
    for node in onnx.load(out_file, load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return {"integer": {op: counts[op] for op in ORT_INTEGER_OPS if op in counts},
            "float": {op: counts[op] for op in ORT_FLOAT_OPS if op in counts},
            "quantize": counts.get("QuantizeLinear", 0), "dequantize": counts.get("DequantizeLinear", 0)}


def ort_graph_text(graph):
    if "error" in graph:
        return "ORT failed: " + graph["error"]
    ops = lambda d: ", ".join(f"{op} {n}" for op, n in d.items()) or "none"  # noqa: E731
    return (f"integer kernels: {ops(graph['integer'])}; float kernels: {ops(graph['float'])}; "
            f"QuantizeLinear {graph['quantize']}, DequantizeLinear {graph['dequantize']} left")


def add_settings_arguments(parser):
    parser.add_argument("--quantizer", default="symmetricpc", help="leip compress --quantizer (default symmetricpc)")
    parser.add_argument("--quant_data_type", default="int8", help="leip compress --data_type (default int8)")
    parser.add_argument("--calibration", default="average", help="leip compress --calibration (default average)")


def settings_from(args):
    return {"quantizer": args.quantizer, "data_type": args.quant_data_type, "calibration": args.calibration}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(TORCHVISION + EXAMPLES))
    parser.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--leip", default=None, help="leip binary (default BUILD/src/cli/leip)")
    parser.add_argument("--models_dir", default=None, help="torchvision exports (default BUILD/models)")
    add_settings_arguments(parser)
    args = parser.parse_args()
    leip = args.leip or os.path.join(args.build_dir, "src", "cli", "leip")
    models_dir = args.models_dir or os.path.join(args.build_dir, "models")
    work = os.path.join(args.build_dir, "benchmark")
    settings = settings_from(args)
    for name in args.models:
        path = model_path(name, models_dir)
        if not os.path.isfile(path):
            sys.exit(f"int8_models: {path} is missing (tools/export_torchvision.py --output_dir {models_dir})")
        try:
            q = compress(leip, name, path, work, settings)
        except ProductError as e:
            print(f"{name}: leip compress failed: {e}")
            continue
        x = os.path.join(work, "int8", f"{name}.input.npy")
        np.save(x, np.random.default_rng(0).random([1] + input_shape(path)[1:], dtype=np.float32))
        graph = ort_graph(q["model"], [x], os.path.join(q["dir"] + ".ort_optimized.onnx"))
        print(f"{name}: {q['dir']} ({'reused' if q['reused'] else 'compressed'}, compress {q['seconds']} s)\n"
              f"  storage: {storage_text(q['storage'])}\n  ONNX Runtime: {ort_graph_text(graph)}", flush=True)


if __name__ == "__main__":
    main()
