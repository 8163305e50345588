"""`leip compress` from the command line: accuracy on Fashion-MNIST, the QDQ model in ONNX
Runtime, tensor splitting, every quantizer and calibration, torchvision exports, calibration
memory and bad input.

Calibration data are the first Fashion-MNIST *training* images (tools/fmnist.py), test data
the 10,000 test images, so calibration never sees what accuracy is measured on. fp32 top-1
is measured here with `leip evaluate` on the original models. The QDQ model.onnx keeps the
example models' dynamic batch, so leip evaluates both at batch 100 (each row computed as
at batch 1), and ONNX Runtime runs the QDQ models image by image.

Expectations come from outside the code under test: accuracy from the labels, agreement
from ONNX Runtime (tools/ort_accuracy.js, tools/ort_run.js), quantization parameters from
the definitions of docs/quantization.md applied to the original model's weights.
"""

import json
import math
import os
import platform
import subprocess
import sys
import unittest

import numpy as np

import onnx
from onnx import numpy_helper

import e2e_common as e2e

CALIBRATION_COUNT = 500
# The interpreter runs a QDQ example model on the 10,000 test images in 25-40 s (batch 1 or
# 100 alike); the limit leaves room for a loaded machine.
EVALUATE_TIMEOUT_S = 900
OUTPUT_FILES = ["compress_report.json", "model.onnx", "quant_params.json"]
QUANTIZERS = ("asymmetric", "symmetric", "symmetricpc", "asymmetricpc", "power_of_two")
CALIBRATIONS = ("minmax", "average", "percentile", "entropy", "mse")
PER_CHANNEL = ("symmetricpc", "asymmetricpc")
SYMMETRIC = ("symmetric", "symmetricpc", "power_of_two")
WEIGHTED_OPS = ("Conv", "Gemm", "MatMul")
# Runs argv[2:] with its output in the file argv[1] and prints its exit code and peak RSS
# (KiB). A process started straight from this test would report this test's own, larger
# peak: Linux keeps the high-water mark of the image a process execs from (a fork of this
# one). Spawned from this small interpreter, leip starts from a few MiB.
# A Conv + Linear model whose flatten is x.view(x.size(0), -1), exported with a dynamic batch.
VIEW_MODEL = """
import sys, torch
class View(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Linear(256, 10)
    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.size(0), -1))
torch.manual_seed(0)
torch.onnx.export(View().eval(), torch.zeros(1, 1, 8, 8), sys.argv[1], input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
"""

RSS_PROBE = ("import os, sys\n"
             "pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=[\n"
             "    (os.POSIX_SPAWN_OPEN, 1, sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),\n"
             "    (os.POSIX_SPAWN_DUP2, 1, 2)])\n"
             "_, status, usage = os.wait4(pid, 0)\n"
             "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n")


def compress(test, model, out, *args):
    """Runs leip compress --json; checks exit 0, the three files and that the printed report
    is compress_report.json. Returns the report."""
    result = e2e.leip("compress", "--input_path", model, "--output_path", out, *args, "--json",
                      timeout=EVALUATE_TIMEOUT_S)
    test.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
    test.assertEqual(sorted(os.listdir(out)), OUTPUT_FILES)
    printed = json.loads(result.stdout)
    with open(os.path.join(out, "compress_report.json")) as f:
        test.assertEqual(json.load(f), printed)
    return printed


def evaluate(test, model, images, labels, out, *args):
    result = e2e.leip("evaluate", "--input_path", model, "--test_path", images, "--labels", labels, "--output_path",
                      out, "--json", *args, timeout=EVALUATE_TIMEOUT_S)
    test.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
    return json.loads(result.stdout)


def output_sqnr(report):
    outputs = report["output_sqnr_db"]
    if len(outputs) != 1:
        raise AssertionError(f"expected one output SQNR, got {outputs}")
    return outputs[0]["sqnr_db"]


def initializers(model):
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def along(values, axis, rank):
    """Per-channel `values` shaped to broadcast along `axis` of a rank-`rank` tensor."""
    shape = [1] * rank
    shape[axis] = -1
    return np.asarray(values).reshape(shape)


def dequantize_node(node, inits):
    """(codes, scale, zero point, axis) of a DequantizeLinear reading constants."""
    codes = inits[node.input[0]]
    scale = inits[node.input[1]]
    zero = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros_like(scale, codes.dtype)
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    return codes, scale, zero, axis


def weighted_nodes(model):
    """{node name: (node, weight axis)} of the Conv/Gemm/MatMul nodes with constant weights:
    the output-channel axis is 0 for Conv [M, C/g, kH, kW] and Gemm with transB, 1 for Gemm
    without it and MatMul [K, N] (docs/quantization.md)."""
    consts = set(initializers(model))
    found = {}
    for node in model.graph.node:
        if node.op_type not in WEIGHTED_OPS or len(node.input) < 2 or node.input[1] not in consts:
            continue
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        axis = 0 if node.op_type == "Conv" or (node.op_type == "Gemm" and trans_b) else 1
        found[node.name] = (node, axis)
    return found


def batch_free_with_codes(src, dst):
    """Writes a copy of the QDQ model `src` whose batch dimension is free and whose every
    QuantizeLinear output (the integer codes) is also a graph output. Returns those names."""
    model = onnx.load(src)
    for value in list(model.graph.input) + list(model.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "batch"
    del model.graph.value_info[:]
    codes = [n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    typed = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    for name in codes:
        model.graph.output.append(typed[name])
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    return codes


def safe_file_name(name):
    """The file name `leip run` and tools/ort_run.js give an output."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def check_runs_in_onnx_runtime(test, out, sample, tolerance=2e-2):
    """OUT/model.onnx runs in ONNX Runtime on `sample` and gives about what `leip run` gives
    (a code one step apart moves the outputs by a few quantization steps at most)."""
    model = os.path.join(out, "model.onnx")
    e2e.ort_run(model, out + "_ort", [sample])
    result = e2e.leip("run", "--input_path", model, "--input", sample, "--output_path", out + "_leip")
    test.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
    ort, ours = e2e.read_outputs(out + "_ort"), e2e.read_outputs(out + "_leip")
    test.assertEqual(sorted(ort), sorted(ours))
    for name, want in ort.items():
        test.assertTrue(np.all(np.isfinite(want)), name)
        test.assertEqual(ours[name].shape, want.shape, name)
        test.assertLessEqual(e2e.relative_error(ours[name], want), tolerance, name)


def host_has_vnni():
    """Whether ONNX Runtime's fused 8-bit kernels are exact here: x86-64 with AVX-512 VNNI or
    AVX-VNNI (other architectures have no saturating byte-pair instruction in its path)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return True
    with open("/proc/cpuinfo") as f:
        flags = f.read().split()
    return "avx512_vnni" in flags or "avx_vnni" in flags


class CompressAccuracyTest(unittest.TestCase):
    """Top-1 of the int8 example models on the 10,000 test images (issue 5's requirements)
    and agreement of the QDQ model.onnx with ONNX Runtime."""

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("compress_accuracy")
        fmnist = e2e.fmnist_module()
        calibration, _ = fmnist.load("train", CALIBRATION_COUNT)
        cls.calibration = e2e.save_npy(os.path.join(cls.dir, "calibration.npy"), calibration)
        images, labels = fmnist.load_test()
        cls.images = e2e.save_npy(os.path.join(cls.dir, "test_images.npy"), images)
        cls.labels = e2e.save_npy(os.path.join(cls.dir, "test_labels.npy"), labels)
        cls.first_images = e2e.save_npy(os.path.join(cls.dir, "first300.npy"), images[:300])
        cls.fp32 = {}
        cls.qdq = {}
        cls.int8 = {}

    def fp32_top1(self, name):
        """fp32 top-1 (percent) of an example model, the interpreter at batch 100."""
        if name not in self.fp32:
            report = evaluate(self, e2e.example_model(name), self.images, self.labels,
                              os.path.join(self.dir, "eval_fp32_" + name), "--input_shapes", "100,1,28,28")
            self.assertEqual(report["items"], 10000)
            self.fp32[name] = report["top1"]
        return self.fp32[name]

    def compressed(self, name, quantizer, calibration, optimization=""):
        """The QDQ model.onnx of `name` compressed on the calibration images (made once)."""
        key = (name, quantizer, calibration, optimization)
        if key not in self.qdq:
            out = os.path.join(self.dir, "_".join(filter(None, [name, quantizer, calibration,
                                                                optimization.replace(",", "+")])))
            args = ["--rep_dataset", self.calibration, "--quantizer", quantizer, "--calibration", calibration]
            if optimization:
                args += ["--optimization", optimization]
            report = compress(self, e2e.example_model(name), out, *args)
            self.assertEqual(report["calibration_samples"], CALIBRATION_COUNT)
            self.assertTrue(report["dynamic_batch"], f"{out}/model.onnx lost the model's dynamic batch")
            self.qdq[key] = os.path.join(out, "model.onnx")
        return self.qdq[key]

    def int8_report(self, *key):
        """`leip evaluate` of a compressed model on the 10,000 test images (run once)."""
        if key not in self.int8:
            model = self.compressed(*key)
            self.int8[key] = evaluate(self, model, self.images, self.labels, os.path.dirname(model) + "_eval",
                                      "--input_shapes", "100,1,28,28")
            self.assertEqual(self.int8[key]["items"], 10000)
        return self.int8[key]

    def test_fp32_top1_matches_models_accuracy_json(self):
        with open(os.path.join(e2e.source_dir(), "models", "accuracy.json")) as f:
            recorded = json.load(f)
        for name in e2e.EXAMPLE_MODELS:
            with self.subTest(model=name):
                want = 100.0 * recorded[name[len("fmnist_"):]]["top1"]
                e2e.log(f"{name}: fp32 top-1 {self.fp32_top1(name):.2f} % (models/accuracy.json: {want:.2f} %)")
                self.assertLessEqual(abs(self.fp32_top1(name) - want), 0.1)

    def test_symmetricpc_minmax_within_half_a_point_of_fp32(self):
        for name in e2e.EXAMPLE_MODELS:
            with self.subTest(model=name):
                fp32 = self.fp32_top1(name)
                int8 = self.int8_report(name, "symmetricpc", "minmax")["top1"]
                e2e.log(f"{name}: fp32 top-1 {fp32:.2f} %, int8 symmetricpc/minmax {int8:.2f} % "
                        f"(drop {fp32 - int8:+.2f} points)")
                self.assertLessEqual(fp32 - int8, 0.5)

    def test_mobilenetv2_symmetric_recovers_with_cle_and_bias_correction(self):
        name = "fmnist_mobilenetv2"
        fp32 = self.fp32_top1(name)
        plain = self.int8_report(name, "symmetric", "minmax")["top1"]
        optimized = self.int8_report(name, "symmetric", "minmax", "cross_layer_equalization,bias_correction")["top1"]
        e2e.log(f"{name}: fp32 top-1 {fp32:.2f} %; int8 symmetric/minmax {plain:.2f} % (drop {fp32 - plain:+.2f}); "
                f"with cross_layer_equalization,bias_correction {optimized:.2f} % (drop {fp32 - optimized:+.2f})")
        self.assertLessEqual(fp32 - optimized, 1.0)

    def test_onnx_runtime_counts_what_leip_counts(self):
        # Graph optimizations off: ORT runs QuantizeLinear -> DequantizeLinear -> float op, as
        # leip's interpreter does. "all" fuses the QDQ groups into QLinearConv/QGemm (integer
        # arithmetic with requantization), which may round a few values differently.
        for name in e2e.EXAMPLE_MODELS:
            with self.subTest(model=name):
                model = self.compressed(name, "symmetricpc", "minmax")
                leip_report = self.int8_report(name, "symmetricpc", "minmax")
                plain = e2e.ort_accuracy(model, self.images, self.labels, "--batch=1", "--opt_level=disabled",
                                         timeout=EVALUATE_TIMEOUT_S)
                fused = e2e.ort_accuracy(model, self.images, self.labels, "--batch=1", "--opt_level=all",
                                         timeout=EVALUATE_TIMEOUT_S)
                e2e.log(f"{name} int8: correct top-1 leip {leip_report['correct_top1']}, ONNX Runtime "
                        f"{plain['correct']} (optimizations off), {fused['correct']} (all: integer kernels)")
                self.assertEqual(plain["images"], 10000)
                self.assertEqual(plain["correct"], leip_report["correct_top1"])
            with self.subTest(model=name, ort_kernels="fused integer"):
                if not host_has_vnni():
                    # Without VNNI, ORT's u8 x s8 kernels add byte-pair products into 16 bits
                    # (vpmaddubsw) and saturate (on an AVX2 Zen 3: fmnist_mobilenetv2 9123
                    # correct against leip's 9162): no oracle there.
                    self.skipTest("no VNNI on this host: ONNX Runtime's fused integer kernels saturate")
                self.assertLessEqual(abs(100.0 * fused["top1"] - leip_report["top1"]), 0.3)

    def test_onnx_runtime_computes_the_codes_and_logits_leip_computes(self):
        # Both run the same float ops in a different summation order, so a value within a
        # float rounding of a .5 boundary may get codes one step apart, and that difference
        # then travels downstream. So: in each sample, the first tensor (in model order)
        # whose codes differ differs by one step in one or two codes; where every code of
        # a sample agrees, the logits agree to float precision.
        for name in e2e.EXAMPLE_MODELS:
            with self.subTest(model=name):
                src = self.compressed(name, "symmetricpc", "minmax")
                work = os.path.join(self.dir, "codes_" + name)
                os.makedirs(work, exist_ok=True)
                model = os.path.join(work, "batch_free.onnx")
                codes = batch_free_with_codes(src, model)
                self.assertTrue(codes, "the QDQ model has no QuantizeLinear")
                e2e.ort_run(model, os.path.join(work, "ort"), [self.first_images])
                result = e2e.leip("run", "--input_path", model, "--input", self.first_images, "--output_path",
                                  os.path.join(work, "leip"))
                self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
                ort, ours = e2e.read_outputs(os.path.join(work, "ort")), e2e.read_outputs(os.path.join(work, "leip"))
                self.assertEqual(sorted(ort), sorted(ours))
                samples = ort["logits"].shape[0]
                differs = np.zeros(samples, bool)
                for code in codes:  # model order
                    want, got = ort[safe_file_name(code)], ours[safe_file_name(code)]
                    self.assertEqual((want.dtype, want.shape), (got.dtype, got.shape), code)
                    delta = np.abs(got.astype(np.int64) - want.astype(np.int64)).reshape(samples, -1)
                    first = delta.any(axis=1) & ~differs
                    for sample in np.flatnonzero(first):
                        self.assertEqual(int(delta[sample].max()), 1, f"'{code}', sample {sample}")
                        self.assertLessEqual(np.count_nonzero(delta[sample]), 2, f"'{code}', sample {sample}")
                    differs |= first
                want, got = ort["logits"].astype(np.float64), ours["logits"].astype(np.float64)
                rel = np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)
                e2e.log(f"{name}: codes one step apart in {int(differs.sum())} of {samples} samples; logits max "
                        f"rel. error {rel.max():.1e}")
                self.assertLessEqual(np.count_nonzero(differs), 0.1 * samples)
                e2e.log(f"  where every code agrees: logits max rel. error {rel[~differs].max():.1e}")
                self.assertLessEqual(rel[~differs].max(), 1e-4)
                self.assertLessEqual(rel.max(), 2e-2)


class CompressTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("compress")
        calibration, _ = e2e.fmnist_module().load("train", 2000)
        cls.calibration = e2e.save_npy(os.path.join(cls.dir, "calibration.npy"), calibration[:CALIBRATION_COUNT])
        cls.calibration100 = e2e.save_npy(os.path.join(cls.dir, "calibration100.npy"), calibration[:100])
        cls.calibration200 = e2e.save_npy(os.path.join(cls.dir, "calibration200.npy"), calibration[:200])
        cls.calibration2000 = e2e.save_npy(os.path.join(cls.dir, "calibration2000.npy"), calibration)
        cls.sample = e2e.save_npy(os.path.join(cls.dir, "sample.npy"), calibration[:1])
        cls.cnn = e2e.example_model("fmnist_cnn")

    def out(self, *parts):
        return os.path.join(self.dir, "_".join([self.id().rsplit(".", 1)[-1], *parts]))

    def check_quantization(self, out, original, quantizer, data_type="int8", bits=8):
        """quant_params.json and model.onnx against the definitions of docs/quantization.md
        applied to the weights of `original` (a model without BatchNorm, so compress keeps
        its weights and their names)."""
        with open(os.path.join(out, "quant_params.json")) as f:
            tensors = {t["name"]: t for t in json.load(f)["tensors"]}
        source = onnx.load(original)
        weights = initializers(source)
        model = onnx.load(os.path.join(out, "model.onnx"))
        inits = initializers(model)
        dequantizers = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
        storage = {"int8": ("i8", np.int8), "uint8": ("u8", np.uint8)}[data_type]
        per_channel = quantizer in PER_CHANNEL
        qmax = 2 ** (bits - 1) - 1  # symmetric: the largest |code - zero point|
        info = np.iinfo(storage[1])
        low, high = (-2 ** (bits - 1), qmax) if data_type == "int8" else (0, 2 ** bits - 1)

        nodes = weighted_nodes(source)
        self.assertTrue(nodes)
        for node, axis in nodes.values():
            weight, act = node.input[1], tensors.get(node.input[0])
            w = tensors.get(weight)
            self.assertIsNotNone(w, f"quant_params.json lacks the weight '{weight}'")
            self.assertIsNotNone(act, f"quant_params.json lacks '{node.input[0]}', the input of '{node.name}'")
            self.assertEqual((w["role"], w["dtype"], w["bits"]), ("weight", storage[0], bits), weight)
            self.assertEqual(w["axis"], axis if per_channel else None, weight)
            scale = np.atleast_1d(np.asarray(w["scale"], np.float32))
            zero = np.atleast_1d(np.asarray(w["zero_point"], np.int64))
            self.assertEqual(scale.size, weights[weight].shape[axis] if per_channel else 1, weight)
            if quantizer in SYMMETRIC:
                self.assertTrue(np.all(zero == (0 if data_type == "int8" else 2 ** (bits - 1))), weight)
            if quantizer == "power_of_two":
                self.assertTrue(np.all(np.log2(scale) == np.round(np.log2(scale))), f"{weight}: {scale}")

            # The model holds the codes and parameters the JSON names, and they reproduce the
            # float weights within half a step (a weight range is never clipped).
            dq = dequantizers.get(weight)
            self.assertIsNotNone(dq, f"model.onnx has no DequantizeLinear producing '{weight}'")
            codes, dq_scale, dq_zero, dq_axis = dequantize_node(dq, inits)
            self.assertEqual(codes.dtype, storage[1], weight)
            np.testing.assert_array_equal(np.atleast_1d(dq_scale), scale)
            np.testing.assert_array_equal(np.atleast_1d(dq_zero).astype(np.int64), zero)
            if per_channel:
                self.assertEqual(dq_axis, axis)
                scale, zero = along(scale, axis, codes.ndim), along(zero, axis, codes.ndim)
            self.assertGreaterEqual(int(codes.min()), max(low, info.min), weight)
            self.assertLessEqual(int(codes.max()), high, weight)
            centered = codes.astype(np.int64) - zero
            error = np.abs(centered * scale.astype(np.float64) - weights[weight])
            # Half a step, plus float32's rounding of w / scale (|w / scale| <= 128).
            self.assertTrue(np.all(error <= (0.5 + 1e-4) * scale), f"{weight}: {error.max()}")
            if quantizer in SYMMETRIC:
                reduce = tuple(i for i in range(codes.ndim) if i != axis) if per_channel else None
                peak = np.atleast_1d(np.abs(centered).max(axis=reduce))
                live = np.atleast_1d(np.abs(weights[weight]).max(axis=reduce) > 0)
                if quantizer == "power_of_two":  # the scale is rounded up to a power of two
                    self.assertTrue(np.all((peak >= qmax // 2) & (peak <= qmax)), f"{weight}: {peak}")
                else:  # the largest |w| of each range maps onto qmax
                    self.assertTrue(np.all(peak[live] == qmax), f"{weight}: {peak}")

            # Activations: always per tensor, 8-bit, the storage type.
            self.assertEqual((act["role"], act["dtype"], act["bits"], act["axis"]),
                             ("activation", storage[0], 8, None), act["name"])
            if quantizer in SYMMETRIC:
                self.assertEqual(act["zero_point"], 0 if data_type == "int8" else 128, act["name"])

            # Bias: int32, zero point 0, scale = input scale x weight scale (ONNX Runtime's QDQ
            # convention), within half a step of the float bias.
            if len(node.input) > 2 and node.input[2]:
                b = tensors.get(node.input[2])
                self.assertIsNotNone(b, f"quant_params.json lacks the bias '{node.input[2]}'")
                self.assertEqual((b["role"], b["dtype"]), ("bias", "i32"))
                b_scale = np.atleast_1d(np.asarray(b["scale"], np.float64))
                want = np.float64(act["scale"]) * np.atleast_1d(np.asarray(w["scale"], np.float64))
                np.testing.assert_allclose(b_scale, want, rtol=1e-6)
                self.assertTrue(np.all(np.asarray(b["zero_point"]) == 0))
                codes, dq_scale, _, _ = dequantize_node(dequantizers[node.input[2]], inits)
                self.assertEqual(codes.dtype, np.int32)
                error = np.abs(codes * dq_scale.astype(np.float64) - weights[node.input[2]])
                self.assertTrue(np.all(error <= (0.5 + 1e-4) * dq_scale), node.input[2])

        # Every QuantizeLinear of model.onnx uses the parameters of an activation in the JSON.
        json_acts = sorted((np.float32(t["scale"]).item(), t["zero_point"]) for t in tensors.values()
                           if t["role"] == "activation")
        model_acts = sorted((float(inits[n.input[1]]), int(inits[n.input[2]])) for n in model.graph.node
                            if n.op_type == "QuantizeLinear")
        self.assertEqual(model_acts, json_acts)

    def test_every_quantizer_and_calibration(self):
        for quantizer in QUANTIZERS:
            for calibration in CALIBRATIONS:
                with self.subTest(quantizer=quantizer, calibration=calibration):
                    out = self.out(quantizer, calibration)
                    report = compress(self, self.cnn, out, "--rep_dataset", self.calibration100, "--quantizer",
                                      quantizer, "--calibration", calibration)
                    self.assertEqual((report["quantizer"], report["calibration"], report["calibration_samples"]),
                                     (quantizer, calibration, 100))
                    e2e.log(f"fmnist_cnn {quantizer}/{calibration}: output SQNR {output_sqnr(report):.1f} dB")
                    self.assertGreater(output_sqnr(report), 15)
                    self.check_quantization(out, self.cnn, quantizer)
                    check_runs_in_onnx_runtime(self, out, self.sample)

    def test_uint8_storage(self):
        for quantizer in ("symmetricpc", "asymmetric"):
            with self.subTest(quantizer=quantizer):
                out = self.out(quantizer)
                report = compress(self, self.cnn, out, "--rep_dataset", self.calibration100, "--quantizer", quantizer,
                                  "--data_type", "uint8")
                self.assertEqual(report["data_type"], "uint8")
                self.assertGreater(output_sqnr(report), 15)
                self.check_quantization(out, self.cnn, quantizer, data_type="uint8")
                check_runs_in_onnx_runtime(self, out, self.sample)

    def test_4_bit_weights(self):
        out = self.out()
        report = compress(self, self.cnn, out, "--rep_dataset", self.calibration100, "--quantizer", "symmetricpc",
                          "--bits", "4")
        self.assertEqual(report["bits"], 4)
        e2e.log(f"fmnist_cnn symmetricpc 4-bit weights: output SQNR {output_sqnr(report):.1f} dB")
        self.assertGreater(output_sqnr(report), 15)
        self.check_quantization(out, self.cnn, "symmetricpc", bits=4)
        check_runs_in_onnx_runtime(self, out, self.sample)

    def test_dynamic_batch_is_kept_only_when_rows_stay_independent(self):
        # fmnist_cnn declares a dynamic batch and flattens with Flatten: the QDQ model keeps
        # the batch dim and runs at batch 3 in ONNX Runtime.
        out = self.out("dynamic")
        report = compress(self, self.cnn, out, "--rep_dataset", self.calibration100)
        self.assertTrue(report["dynamic_batch"])
        batch = e2e.save_npy(os.path.join(self.dir, "batch3.npy"), np.load(self.calibration100)[:3])
        e2e.ort_run(os.path.join(out, "model.onnx"), out + "_ort3", [batch])
        self.assertEqual(e2e.read_outputs(out + "_ort3")["logits"].shape, (3, 10))
        # x.view(x.size(0), -1): leip folds the Shape arithmetic at batch 1 into a constant
        # [1, -1], so the QDQ model cannot take another batch and stays at batch 1, with a warning.
        model = os.path.join(self.dir, "view.onnx")
        build = subprocess.run([sys.executable, "-c", VIEW_MODEL, model], capture_output=True, text=True)
        self.assertEqual(build.returncode, 0, build.stderr)
        data = e2e.save_npy(os.path.join(self.dir, "view.npy"),
                            np.random.default_rng(1).standard_normal((10, 1, 8, 8)).astype(np.float32))
        out = self.out("view")
        result = e2e.leip("compress", "--input_path", model, "--output_path", out, "--rep_dataset", data)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertIn("keeps batch 1", result.stderr)
        with open(os.path.join(out, "compress_report.json")) as f:
            self.assertFalse(json.load(f)["dynamic_batch"])
        declared = onnx.load(os.path.join(out, "model.onnx")).graph.input[0].type.tensor_type.shape.dim[0]
        self.assertEqual(declared.dim_value, 1)

    def test_commands_take_the_output_directory_for_its_model(self):
        # evaluate, run and compile read DIR/model.onnx when given a compress output directory.
        out = self.out("as_input")
        compress(self, self.cnn, out, "--rep_dataset", self.calibration100)
        data = np.load(self.calibration100)[:20]
        images = e2e.save_npy(os.path.join(self.dir, "as_input_images.npy"), data)
        labels = e2e.save_npy(os.path.join(self.dir, "as_input_labels.npy"), np.arange(20, dtype=np.int64) % 10)
        by_dir = e2e.leip("evaluate", "--input_path", out, "--test_path", images, "--labels", labels, "--json",
                          "--output_path", out + "_eval_dir")
        by_file = e2e.leip("evaluate", "--input_path", os.path.join(out, "model.onnx"), "--test_path", images,
                           "--labels", labels, "--json", "--output_path", out + "_eval_file")
        for result in (by_dir, by_file):
            self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertEqual(json.loads(by_dir.stdout)["engine"], "interpreter")
        self.assertEqual(json.loads(by_dir.stdout)["correct_top1"], json.loads(by_file.stdout)["correct_top1"])
        compiled = e2e.leip("compile", "--input_path", out, "--output_path", out + "_art")
        self.assertEqual(compiled.rc, e2e.EXIT_OK, compiled.describe())
        with open(os.path.join(out + "_art", "model_schema.json")) as f:
            self.assertTrue(json.load(f)["source"]["path"].endswith("model.onnx"))
        not_a_model = e2e.leip("run", "--input_path", self.dir, "--input", images, "--output_path", out + "_run")
        self.assertEqual(not_a_model.rc, e2e.EXIT_BAD_INPUT, not_a_model.describe())

    def test_summary_names_the_output_sqnr(self):
        out = self.out()
        result = e2e.leip("compress", "--input_path", self.cnn, "--output_path", out, "--rep_dataset",
                          self.calibration100)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        with open(os.path.join(out, "compress_report.json")) as f:
            report = json.load(f)
        self.assertIn(f"output 'logits': SQNR {output_sqnr(report):.1f} dB", result.stdout)
        self.assertIn("100 samples", result.stdout)
        self.assertEqual(sorted(os.listdir(out)), OUTPUT_FILES)

    def test_tensor_splitting_raises_the_sqnr_of_the_layers_it_splits(self):
        # A split layer's own quantization improves: its weight SQNR rises by at least the
        # 0.1 dB per split channel the choice demands, and its local SQNR (the layer alone on the
        # float model's inputs) rises too. The accumulated SQNR (model input to the layer) also
        # carries the activation noise that halving channels adds upstream, so it may not.
        for name in ("fmnist_cnn", "fmnist_resnet"):
            for calibration in ("minmax", "average"):
                model = e2e.example_model(name)
                args = ["--rep_dataset", self.calibration, "--quantizer", "symmetric", "--calibration", calibration]
                plain = compress(self, model, self.out(name, calibration), *args)
                split = compress(self, model, self.out(name, calibration, "split"), *args, "--optimization",
                                 "tensor_splitting")
                records = [r for r in split["optimizations"] if r["optimization"] == "tensor_splitting"]
                e2e.log(f"{name} ({calibration}): tensor_splitting split {len(records)} layers: " +
                        "; ".join(f"{r['target']} ({r['details']})" for r in records))
                with self.subTest(model=name, calibration=calibration, check="some layer is split"):
                    self.assertTrue(records, f"tensor_splitting split no layer of {name}")
                before = {layer["node"]: layer for layer in plain["layers"]}
                after = {layer["node"]: layer for layer in split["layers"]}
                for record in records:
                    node = record["target"]
                    with self.subTest(model=name, calibration=calibration, layer=node):
                        self.assertIn(node, before)
                        self.assertIn(node, after)
                        b, a = before[node], after[node]
                        e2e.log(f"  {node}: weight SQNR {b['weight_sqnr_db']:.2f} -> {a['weight_sqnr_db']:.2f} dB, "
                                f"local {b['local_sqnr_db']:.2f} -> {a['local_sqnr_db']:.2f} dB, accumulated "
                                f"{b['sqnr_db']:.2f} -> {a['sqnr_db']:.2f} dB")
                        self.assertGreaterEqual(a["weight_sqnr_db"] - b["weight_sqnr_db"], 0.1)
                        self.assertGreater(a["local_sqnr_db"], b["local_sqnr_db"])
                # The default --split_budget: at most 5 % more parameters.
                grown = split["parameter_bytes"]["float32"] / plain["parameter_bytes"]["float32"] - 1
                with self.subTest(model=name, calibration=calibration, check="budget"):
                    self.assertLessEqual(grown, 0.05)
                    self.assertEqual(grown > 0, bool(records))

    def test_tensor_splitting_leaves_per_channel_weights_alone(self):
        # A split channel's own scale halves with it: nothing to gain per channel.
        report = compress(self, self.cnn, self.out(), "--rep_dataset", self.calibration100, "--quantizer",
                          "symmetricpc", "--optimization", "tensor_splitting")
        self.assertEqual(report["optimizations"], [])

    def peak_rss_kib(self, samples, calibration):
        """Peak resident memory (KiB) of one leip compress run: ru_maxrss from os.wait4."""
        out = self.out(str(samples), calibration)
        args = [e2e.leip_bin(), "compress", "--input_path", self.cnn, "--output_path", out, "--rep_dataset",
                getattr(self, f"calibration{samples}"), "--calibration", calibration]
        probe = subprocess.run([sys.executable, "-c", RSS_PROBE, out + ".log", *args], stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=e2e.scaled(e2e.COMMAND_TIMEOUT_S), check=True)
        code, rss = (int(v) for v in probe.stdout.split())
        with open(out + ".log") as log_file:
            self.assertEqual(code, e2e.EXIT_OK, log_file.read())
        return rss

    def test_calibration_memory_does_not_grow_with_samples(self):
        for calibration in ("entropy", "average"):
            with self.subTest(calibration=calibration):
                few, many = self.peak_rss_kib(200, calibration), self.peak_rss_kib(2000, calibration)
                e2e.log(f"fmnist_cnn {calibration}: peak RSS {few} KiB with 200 samples, {many} KiB with 2000")
                self.assertLessEqual(many, 1.2 * few)
                self.assertLessEqual(few, 1.2 * many)


class TorchvisionCompressTest(unittest.TestCase):
    """torchvision resnet18 and mobilenet_v2 (random weights; ctest fixture
    torchvision_models), calibrated on 8 seeded random images."""

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("compress_torchvision")
        images = np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32)
        cls.images = e2e.save_npy(os.path.join(cls.dir, "images.npy"), images)
        cls.first = e2e.save_npy(os.path.join(cls.dir, "first.npy"), images[:1])

    def check(self, name):
        out = os.path.join(self.dir, name)
        report = compress(self, e2e.torchvision_model(name), out, "--rep_dataset", self.images, "--quantizer",
                          "symmetricpc")
        self.assertEqual(report["calibration_samples"], 8)
        e2e.log(f"{name}: output SQNR {output_sqnr(report):.1f} dB in {report['seconds']:.1f} s; parameters "
                f"{report['parameter_bytes']['float32']} -> {report['parameter_bytes']['quantized']} bytes")
        self.assertTrue(math.isfinite(output_sqnr(report)))
        # With random weights the error each layer adds grows through the network (mobilenet_v2:
        # about 1.5 dB lost per block, 12-13 dB at the output), so the output SQNR says little;
        # each layer alone must quantize well.
        self.assertGreater(output_sqnr(report), 5)
        self.assertTrue(report["layers"])
        for layer in report["layers"]:
            self.assertGreater(layer["local_sqnr_db"], 25, layer["node"])
        # The same growth magnifies the codes that round the other way in ONNX Runtime (float
        # sums in another order land on the other side of a .5): mobilenet_v2's output differs
        # by about 6 %, where the trained Fashion-MNIST models differ by under 1 %.
        check_runs_in_onnx_runtime(self, out, self.first, tolerance=0.15)

    def test_resnet18(self):
        self.check("resnet18")

    def test_mobilenet_v2(self):
        self.check("mobilenet_v2")


class CompressBadInputTest(unittest.TestCase):
    """Each: the exit code (1 for a bad flag value, as compile's --target and compress's own
    --bits; 2 for bad files), one line on stderr naming the file or flag, and no output
    directory nor a *.partial-* left behind."""

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("compress_bad")
        cls.cnn = e2e.example_model("fmnist_cnn")
        d = cls.dir
        good = np.random.default_rng(0).standard_normal((20, 1, 28, 28)).astype(np.float32)
        cls.good = e2e.save_npy(os.path.join(d, "good.npy"), good)
        nan = good.copy()
        nan[7, 0, 3, 4] = np.nan
        cls.nan = e2e.save_npy(os.path.join(d, "nan.npy"), nan)
        inf = good.copy()
        inf[12, 0, 0, 0] = -np.inf
        cls.inf = e2e.save_npy(os.path.join(d, "inf.npy"), inf)
        cls.wrong_shape = e2e.save_npy(os.path.join(d, "wrong_shape.npy"), np.zeros((20, 1, 27, 28), np.float32))
        cls.empty = e2e.save_npy(os.path.join(d, "empty.npy"), np.zeros((0, 1, 28, 28), np.float32))
        cls.a_file = os.path.join(d, "a_file")
        with open(cls.a_file, "w") as f:
            f.write("not a folder\n")

    def bad(self, code, must_name, *args, out=None, rep_dataset=None, model=None):
        out = out or os.path.join(self.dir, "out_" + self.id().rsplit(".", 1)[-1])
        result = e2e.leip("compress", "--input_path", model or self.cnn, "--output_path", out, "--rep_dataset",
                          rep_dataset or self.good, *args)
        self.assertEqual(result.rc, code, result.describe())
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, "expected one line on stderr\n" + result.describe())
        for name in must_name:
            self.assertIn(name, lines[0], result.describe())
        self.assertFalse(os.path.exists(out), "a failed compress left its output directory")
        for parent in {os.path.dirname(out), self.dir}:
            if os.path.isdir(parent):
                self.assertEqual([n for n in os.listdir(parent) if ".partial-" in n], [], "a temporary folder is left")
        return lines[0]

    def test_missing_rep_dataset(self):
        missing = os.path.join(self.dir, "no_such.npy")
        self.bad(e2e.EXIT_BAD_INPUT, [missing], rep_dataset=missing)

    def test_nan_names_the_sample(self):
        self.bad(e2e.EXIT_BAD_INPUT, [self.nan + "[7]", "NaN"], rep_dataset=self.nan)

    def test_infinity_names_the_sample(self):
        self.bad(e2e.EXIT_BAD_INPUT, [self.inf + "[12]", "infinite"], rep_dataset=self.inf)

    def test_wrong_sample_shape(self):
        self.bad(e2e.EXIT_BAD_INPUT, [self.wrong_shape, "[20,1,27,28]"], rep_dataset=self.wrong_shape)

    def test_no_samples(self):
        self.bad(e2e.EXIT_BAD_INPUT, [self.empty, "no samples"], rep_dataset=self.empty)

    def test_missing_model(self):
        missing = os.path.join(self.dir, "no_such.onnx")
        self.bad(e2e.EXIT_BAD_INPUT, [missing], model=missing)

    def test_unknown_quantizer(self):
        self.bad(e2e.EXIT_USAGE, ["--quantizer", "int7"], "--quantizer", "int7")

    def test_unknown_calibration(self):
        self.bad(e2e.EXIT_USAGE, ["--calibration", "kl"], "--calibration", "kl")

    def test_unknown_optimization(self):
        self.bad(e2e.EXIT_USAGE, ["--optimization", "pruning"], "--optimization", "bias_correction,pruning")

    def test_bits_3(self):
        self.bad(e2e.EXIT_USAGE, ["--bits", "3"], "--bits", "3")

    def test_unknown_data_type(self):
        self.bad(e2e.EXIT_USAGE, ["--data_type", "int4"], "--data_type", "int4")

    def test_percentile_out_of_range(self):
        self.bad(e2e.EXIT_USAGE, ["--percentile", "40"], "--calibration", "percentile", "--percentile", "40")

    def test_batch_other_than_1(self):
        self.bad(e2e.EXIT_BAD_INPUT, ["'input'", "--input_shapes"], "--input_shapes", "4,1,28,28")

    def test_output_path_under_a_file(self):
        out = os.path.join(self.a_file, "out")
        self.bad(e2e.EXIT_BAD_INPUT, [out], out=out)
        self.assertTrue(os.path.isfile(self.a_file))

    def test_output_path_is_a_file(self):
        # A user's file is never replaced by the output directory.
        out = os.path.join(self.dir, "a_file_at_the_output_path")
        with open(out, "w") as f:
            f.write("keep me\n")
        result = e2e.leip("compress", "--input_path", self.cnn, "--output_path", out, "--rep_dataset", self.good)
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
        self.assertIn(out, result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.describe())
        self.assertTrue(os.path.isfile(out), f"{out} was replaced")
        with open(out) as f:
            self.assertEqual(f.read(), "keep me\n")
        self.assertEqual([n for n in os.listdir(self.dir) if ".partial-" in n], [], "a temporary folder is left")

    def test_read_only_output_folder(self):
        if os.geteuid() == 0:
            self.skipTest("running as root, which may write into a read-only folder "
                          "(test_output_path_under_a_file covers an unwritable path)")
        parent = os.path.join(self.dir, "read_only")
        os.makedirs(parent, exist_ok=True)
        os.chmod(parent, 0o555)
        try:
            out = os.path.join(parent, "out")
            self.bad(e2e.EXIT_BAD_INPUT, [out], out=out)
        finally:
            os.chmod(parent, 0o755)


if __name__ == "__main__":
    unittest.main()
