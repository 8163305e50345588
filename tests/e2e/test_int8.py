"""`leip compile` of quantized models: integer kernels (leip.QConv) for the QDQ convolutions
and fully connected layers of a `leip compress` output, `--data_type`, and the same integer
results on every x86_64 code path and on aarch64 (under qemu).

Models are the three Fashion-MNIST examples compressed with symmetricpc weights and minmax
calibration on the first 500 *training* images (as test_compress.CompressAccuracyTest does);
accuracy is measured on the test images. Expectations come from outside the compiled
integer code: the labels, leip's interpreter running the QDQ model.onnx as the float
simulation of quantization (QuantizeLinear -> DequantizeLinear -> float op), the float32
compile of the same model, and the node counts of the QDQ model.onnx itself.
"""

import json
import os
import re
import shutil
import subprocess
import unittest

import numpy as np

import onnx

import e2e_common as e2e
import test_artifacts
import test_compress

QUANTIZER_ARGS = ("--quantizer", "symmetricpc", "--calibration", "minmax")
# The weighted ops that the integer lowering turns into leip.QConv (Gemm as a 1x1 conv).
LOWERED_OPS = ("Conv", "Gemm")

_compressed = {}


def calibration_images():
    """The first 500 Fashion-MNIST training images, saved once per test process."""
    if "calibration" not in _compressed:
        work = e2e.work_dir("int8_calibration")
        images, _ = e2e.fmnist_module().load("train", test_compress.CALIBRATION_COUNT)
        _compressed["calibration"] = e2e.save_npy(os.path.join(work, "calibration.npy"), images)
    return _compressed["calibration"]


def small_fmnist_set(work):
    """(calibration .npy of 64 training images, .npy of the first 1000 test images, their
    labels .npy), saved under `work`."""
    fmnist = e2e.fmnist_module()
    calibration, _ = fmnist.load("train", 64)
    images, labels = fmnist.load_test(1000)
    return (e2e.save_npy(os.path.join(work, "calibration64.npy"), calibration),
            e2e.save_npy(os.path.join(work, "test1000.npy"), images),
            e2e.save_npy(os.path.join(work, "labels1000.npy"), labels))


def compressed(test, name):
    """The `leip compress` output folder of an example model (symmetricpc, minmax), made once
    per test process."""
    if name not in _compressed:
        out = os.path.join(e2e.work_dir("int8_compressed_" + name), "out")
        report = test_compress.compress(test, e2e.example_model(name), out, "--rep_dataset", calibration_images(),
                                        *QUANTIZER_ARGS)
        test.assertEqual(report["calibration_samples"], test_compress.CALIBRATION_COUNT)
        _compressed[name] = out
    return _compressed[name]


def compile_artifact(test, model, out, *args):
    """leip compile; checks exit 0 and returns (artifact dir, its model_schema.json, stdout)."""
    result = e2e.leip("compile", "--input_path", model, "--output_path", out, *args)
    test.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
    with open(os.path.join(out, "model_schema.json")) as f:
        return out, json.load(f), result.stdout


def run_artifact(test, artifact, images, out):
    """`leip run` of an artifact on one .npy; returns its logits."""
    result = e2e.leip("run", "--input_path", artifact, "--input", images, "--output_path", out)
    test.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
    outputs = e2e.read_outputs(out)
    test.assertEqual(sorted(outputs), ["logits"])
    return outputs["logits"]


def count_ops(model_path, ops):
    return sum(1 for node in onnx.load(model_path).graph.node if node.op_type in ops)


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def disassembly(library):
    """objdump -d of a library, or None when binutils' objdump is not installed."""
    objdump = shutil.which("objdump")
    if objdump is None:
        return None
    return subprocess.run([objdump, "-d", library], stdout=subprocess.PIPE, check=True,
                          timeout=e2e.COMMAND_TIMEOUT_S).stdout.decode("utf-8", "replace")


class Int8AccuracyTest(unittest.TestCase):
    """Top-1 on the 10,000 test images of the compiled int8 artifacts equals (within 0.1
    points) leip's simulated quantization of the same QDQ models."""

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("int8_accuracy")
        images, labels = e2e.fmnist_module().load_test()
        cls.images = e2e.save_npy(os.path.join(cls.dir, "test_images.npy"), images)
        cls.labels = e2e.save_npy(os.path.join(cls.dir, "test_labels.npy"), labels)

    def check(self, name):
        qdq_dir = compressed(self, name)
        qdq = os.path.join(qdq_dir, "model.onnx")
        artifact, schema, stdout = compile_artifact(self, qdq_dir, os.path.join(self.dir, name + "_int8"))

        # Every Conv and Gemm of the QDQ model runs on integers; none stays float.
        self.assertEqual(schema.get("data_type"), "int8", schema)
        quantization = schema["quantization"]
        self.assertEqual(quantization["float_convs"], [], quantization)
        self.assertEqual(quantization["integer_convs"], count_ops(qdq, LOWERED_OPS), quantization)
        printed = re.search(r"integer convolutions: (\d+)", stdout)
        self.assertIsNotNone(printed, stdout)
        self.assertEqual(int(printed.group(1)), quantization["integer_convs"], stdout)

        compiled = test_compress.evaluate(self, artifact, self.images, self.labels, artifact + "_eval")
        self.assertEqual(compiled["engine"], "compiled")
        simulated = test_compress.evaluate(self, qdq, self.images, self.labels, os.path.join(self.dir, name + "_sim"),
                                           "--input_shapes", "100,1,28,28")
        self.assertEqual(simulated["engine"], "interpreter")
        for report in (compiled, simulated):
            self.assertEqual(report["items"], 10000)
        # Informative only: ONNX Runtime with its QDQ fusions (QLinearConv/QGemm) on the same model.
        ort = e2e.ort_accuracy(qdq, self.images, self.labels, "--batch=1", "--opt_level=all",
                               timeout=test_compress.EVALUATE_TIMEOUT_S)
        e2e.log(f"{name}: top-1 compiled int8 {compiled['top1']:.2f} % ({compiled['correct_top1']}), simulated "
                f"(interpreter) {simulated['top1']:.2f} % ({simulated['correct_top1']}), ONNX Runtime integer "
                f"{100.0 * ort['top1']:.2f} %; {quantization}")
        self.assertLessEqual(abs(compiled["top1"] - simulated["top1"]), 0.1)

    def test_fmnist_cnn(self):
        self.check("fmnist_cnn")

    def test_fmnist_mobilenetv2(self):
        self.check("fmnist_mobilenetv2")

    def test_fmnist_resnet(self):
        self.check("fmnist_resnet")


class Int8VsFloatSimulationTest(unittest.TestCase):
    """The same compress output compiled with --data_type float32 (float simulation) and
    the default (integer kernels) gives about the same logits on 64 test images."""

    BATCH = 64
    # Both compute each code with float ops in a different order (float(acc) * scale + bias
    # against a sum of dequantized products), so a value within a float rounding of a .5
    # boundary gets codes one step apart, and the step travels downstream. Measured on the
    # first 1,000 test images in blocks of 64: no argmax differs; rows with any difference
    # (relative error over 1e-4) are at most 8 of 64 (mobilenetv2; resnet 4, cnn 2); the
    # largest |int8 - float32| / max|float32| of a block is 1.1e-2 (mobilenetv2), 6.0e-3
    # (resnet), 3.9e-3 (cnn). The limits leave about 3x margin; a wrong scale, bias or zero
    # point moves every row.
    MAX_RELATIVE_ERROR = 3e-2
    MIN_EXACT_ROWS = 48  # rows whose relative error is at most 1e-4
    MIN_SAME_ARGMAX = 62

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("int8_vs_float")
        images, _ = e2e.fmnist_module().load_test(cls.BATCH)
        cls.images = e2e.save_npy(os.path.join(cls.dir, "images.npy"), images)

    def check(self, name):
        qdq_dir = compressed(self, name)
        shape = ("--input_shapes", f"{self.BATCH},1,28,28")
        float_dir, float_schema, _ = compile_artifact(self, qdq_dir, os.path.join(self.dir, name + "_float32"),
                                                      "--data_type", "float32", *shape)
        int8_dir, int8_schema, _ = compile_artifact(self, qdq_dir, os.path.join(self.dir, name + "_int8"), *shape)
        self.assertEqual(float_schema.get("data_type"), "float32", float_schema)
        self.assertEqual(float_schema["quantization"]["integer_convs"], 0, float_schema["quantization"])
        self.assertEqual(int8_schema.get("data_type"), "int8", int8_schema)

        want = run_artifact(self, float_dir, self.images, float_dir + "_out").astype(np.float64)
        got = run_artifact(self, int8_dir, self.images, int8_dir + "_out").astype(np.float64)
        self.assertEqual(got.shape, (self.BATCH, 10))
        self.assertEqual(want.shape, got.shape)
        self.assertTrue(np.all(np.isfinite(got)), name)
        same_argmax = int(np.sum(got.argmax(axis=1) == want.argmax(axis=1)))
        rows = np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)
        exact = int(np.sum(rows <= 1e-4))
        error = e2e.relative_error(got, want)
        e2e.log(f"{name}: int8 vs float32 simulation on {self.BATCH} images: same argmax {same_argmax}, rows within "
                f"1e-4 {exact}, max |diff| / max |float32| {error:.2e}")
        self.assertGreaterEqual(same_argmax, self.MIN_SAME_ARGMAX)
        self.assertGreaterEqual(exact, self.MIN_EXACT_ROWS)
        self.assertLessEqual(error, self.MAX_RELATIVE_ERROR)

    def test_fmnist_cnn(self):
        self.check("fmnist_cnn")

    def test_fmnist_mobilenetv2(self):
        self.check("fmnist_mobilenetv2")

    def test_fmnist_resnet(self):
        self.check("fmnist_resnet")


class CompileFloatModelAsInt8Test(unittest.TestCase):
    """`leip compile --data_type int8` quantizes a float model first (needs --rep_dataset)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("int8_float_model")
        cls.calibration, cls.images, cls.labels = small_fmnist_set(cls.dir)
        cls.model = e2e.example_model("fmnist_cnn")

    def test_int8_within_a_point_of_fp32(self):
        int8_dir, int8_schema, _ = compile_artifact(self, self.model, os.path.join(self.dir, "cnn_int8"),
                                                    "--data_type", "int8", "--rep_dataset", self.calibration,
                                                    *QUANTIZER_ARGS)
        self.assertEqual(int8_schema.get("data_type"), "int8", int8_schema)
        self.assertEqual(int8_schema["quantization"]["float_convs"], [], int8_schema["quantization"])
        self.assertEqual(int8_schema["quantization"]["integer_convs"], count_ops(self.model, LOWERED_OPS))
        fp32_dir, fp32_schema, _ = compile_artifact(self, self.model, os.path.join(self.dir, "cnn_fp32"))
        self.assertEqual(fp32_schema.get("data_type"), "float32", fp32_schema)

        int8 = test_compress.evaluate(self, int8_dir, self.images, self.labels, int8_dir + "_eval")
        fp32 = test_compress.evaluate(self, fp32_dir, self.images, self.labels, fp32_dir + "_eval")
        self.assertEqual((int8["items"], fp32["items"]), (1000, 1000))
        e2e.log(f"fmnist_cnn on 1000 test images: top-1 fp32 {fp32['top1']:.2f} %, compiled --data_type int8 "
                f"{int8['top1']:.2f} %")
        self.assertLessEqual(abs(fp32["top1"] - int8["top1"]), 1.0)

    def test_qdq_model_needs_no_rep_dataset(self):
        _, schema, _ = compile_artifact(self, compressed(self, "fmnist_cnn"), os.path.join(self.dir, "qdq_int8"),
                                        "--data_type", "int8")
        self.assertEqual(schema.get("data_type"), "int8", schema)

    def bad(self, must_name, *args):
        out = os.path.join(self.dir, "bad_" + must_name.strip("-"))
        result = e2e.leip("compile", "--input_path", self.model, "--output_path", out, *args)
        self.assertEqual(result.rc, e2e.EXIT_USAGE, result.describe())
        self.assertIn(must_name, result.stderr)
        self.assertFalse(os.path.exists(out), f"{out} was created\n" + result.describe())

    def test_float_model_without_rep_dataset(self):
        self.bad("--rep_dataset", "--data_type", "int8")

    def test_unknown_data_type(self):
        self.bad("--data_type", "--data_type", "int4")


class QdqMatMulTest(unittest.TestCase):
    """A linear layer exported as MatMul over a 3-D input, in QDQ form as ONNX Runtime's
    quantizer writes it (u8 activations, i8 weights per output column), compiles to the
    integer kernels and gives ONNX Runtime's results within one output step."""

    K, M = 48, 24
    Y_SCALE = 0.02

    def model(self, path):
        from onnx import TensorProto, helper, numpy_helper
        rng = np.random.default_rng(3)
        weights = rng.integers(-127, 128, size=(self.K, self.M), dtype=np.int8)
        w_scales = (rng.uniform(0.5, 1.5, size=self.M) / (127 * np.sqrt(self.K))).astype(np.float32)
        inits = [
            numpy_helper.from_array(np.array(2.0 / 255, np.float32), "x_scale"),
            numpy_helper.from_array(np.array(128, np.uint8), "x_zp"),
            numpy_helper.from_array(weights, "w_q"),
            numpy_helper.from_array(w_scales, "w_scale"),
            numpy_helper.from_array(np.zeros(self.M, np.int8), "w_zp"),
            numpy_helper.from_array(np.array(self.Y_SCALE, np.float32), "y_scale"),
            numpy_helper.from_array(np.array(0, np.int8), "y_zp"),
        ]
        nodes = [
            helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"]),
            helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zp"], ["x_dq"]),
            helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w_dq"], axis=1),
            helper.make_node("MatMul", ["x_dq", "w_dq"], ["mm"], name="linear"),
            helper.make_node("QuantizeLinear", ["mm", "y_scale", "y_zp"], ["y_q"]),
            helper.make_node("DequantizeLinear", ["y_q", "y_scale", "y_zp"], ["y"]),
        ]
        graph = helper.make_graph(nodes, "qdq_matmul", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                     [2, 5, self.K])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, self.M])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(model)
        onnx.save(model, path)
        return path

    def test_matmul_runs_on_integers_and_matches_onnx_runtime(self):
        work = e2e.work_dir("int8_qdq_matmul")
        model = self.model(os.path.join(work, "qdq_matmul.onnx"))
        x = e2e.save_npy(os.path.join(work, "x.npy"),
                         np.random.default_rng(4).uniform(-1, 1, size=(2, 5, self.K)).astype(np.float32))
        artifact, schema, _ = compile_artifact(self, model, os.path.join(work, "int8"), "--data_type", "int8")
        self.assertEqual(schema["quantization"]["integer_convs"], 1, schema["quantization"])
        self.assertEqual(schema["quantization"]["float_convs"], [], schema["quantization"])

        result = e2e.leip("run", "--input_path", artifact, "--input", x, "--output_path", os.path.join(work, "out"))
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        got = e2e.read_outputs(os.path.join(work, "out"))["y"].astype(np.float64)
        e2e.ort_run(model, os.path.join(work, "ort"), [x])
        want = e2e.read_outputs(os.path.join(work, "ort"))["y"].astype(np.float64)
        self.assertEqual(got.shape, (2, 5, self.M))
        steps = np.abs(got - want) / self.Y_SCALE
        e2e.log(f"QDQ MatMul: {int(np.sum(steps < 1e-3))} of {steps.size} outputs equal to ONNX Runtime's, "
                f"at most {steps.max():.3f} steps apart; {len(np.unique(want))} distinct values")
        self.assertLessEqual(float(steps.max()), 1.0 + 1e-3)
        self.assertGreaterEqual(int(np.sum(steps < 1e-3)), int(0.95 * steps.size))
        self.assertGreater(len(np.unique(want)), 16)


class Uint8CompressTest(unittest.TestCase):
    """A `leip compress --data_type uint8` model (u8 activations, u8 weights with zero point
    128) runs on integers too, and agrees with its simulation."""

    def test_fmnist_resnet_uint8(self):
        work = e2e.work_dir("int8_uint8")
        calibration, images, labels = small_fmnist_set(work)
        qdq = os.path.join(work, "compressed")
        report = test_compress.compress(self, e2e.example_model("fmnist_resnet"), qdq, "--rep_dataset", calibration,
                                        "--data_type", "uint8", *QUANTIZER_ARGS)
        self.assertEqual(report["data_type"], "uint8")
        artifact, schema, _ = compile_artifact(self, qdq, os.path.join(work, "artifact"))
        self.assertEqual(schema.get("data_type"), "int8", schema)
        self.assertEqual(schema["quantization"]["float_convs"], [], schema["quantization"])
        compiled = test_compress.evaluate(self, artifact, images, labels, artifact + "_eval")
        simulated = test_compress.evaluate(self, qdq, images, labels, qdq + "_eval")
        e2e.log(f"fmnist_resnet uint8 on 1000 test images: correct compiled {compiled['correct_top1']}, simulated "
                f"{simulated['correct_top1']}")
        self.assertLessEqual(abs(compiled["correct_top1"] - simulated["correct_top1"]), 1)


class MixedPrecisionTest(unittest.TestCase):
    """`leip compile --data_type mixed`: the layers whose quantization hurts most (lowest
    local SQNR) stay float32 within --float_budget; the schema says which and why."""

    BUDGET = 0.15

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("int8_mixed")
        cls.calibration, cls.images, cls.labels = small_fmnist_set(cls.dir)
        cls.model = e2e.example_model("fmnist_mobilenetv2")

    def test_mixed_keeps_the_worst_layers_float_within_the_budget(self):
        common = ("--rep_dataset", self.calibration, *QUANTIZER_ARGS)
        mixed_dir, mixed, stdout = compile_artifact(self, self.model, os.path.join(self.dir, "mixed"), "--data_type",
                                                    "mixed", "--float_budget", str(self.BUDGET), *common)
        int8_dir, int8, _ = compile_artifact(self, self.model, os.path.join(self.dir, "int8"), "--data_type", "int8",
                                             *common)
        kept = mixed["quantization"]["float_convs"]
        self.assertGreater(len(kept), 0, mixed["quantization"])
        for conv in kept:
            self.assertIn("kept float32 by --data_type mixed", conv["reason"])
            self.assertIn(conv["node"], stdout)
        # Each reason states the layer's share of the multiply-adds; together within budget.
        shares = [float(re.search(r"; ([0-9.]+) % of the multiply-adds", c["reason"]).group(1)) for c in kept]
        self.assertLessEqual(sum(shares), 100 * self.BUDGET + 0.1 * len(shares))
        total = count_ops(self.model, LOWERED_OPS)
        self.assertEqual(int8["quantization"]["integer_convs"], total)
        self.assertEqual(mixed["quantization"]["integer_convs"] + len(kept), total)
        self.assertEqual(mixed.get("data_type"), "mixed", mixed)

        e2e.log(f"fmnist_mobilenetv2, --float_budget {self.BUDGET}: float layers {[c['node'] for c in kept]}")

    def test_budget_zero_is_int8_and_one_is_float32(self):
        """The two ends of the budget: nothing kept float gives the int8 model's predictions, and
        everything kept float (activations too, since no quantized layer reads them) the fp32
        model's, up to float rounding."""
        common = ("--rep_dataset", self.calibration, *QUANTIZER_ARGS)
        dirs = {
            "int8": compile_artifact(self, self.model, os.path.join(self.dir, "int8"), "--data_type", "int8",
                                     *common)[0],
            "fp32": compile_artifact(self, self.model, os.path.join(self.dir, "fp32"))[0],
        }
        for budget in ("0", "1"):
            out, schema, _ = compile_artifact(self, self.model, os.path.join(self.dir, "budget" + budget),
                                              "--data_type", "mixed", "--float_budget", budget, *common)
            dirs[budget] = out
            if budget == "1":
                self.assertEqual(schema["quantization"]["integer_convs"], 0, schema["quantization"])
                self.assertEqual(len(schema["quantization"]["float_convs"]), count_ops(self.model, LOWERED_OPS))
            else:
                self.assertEqual(schema["quantization"]["float_convs"], [], schema["quantization"])
        correct = {name: test_compress.evaluate(self, d, self.images, self.labels, d + "_eval")["correct_top1"]
                   for name, d in dirs.items()}
        e2e.log(f"fmnist_mobilenetv2 on 1000 test images, correct: {correct}")
        self.assertEqual(correct["0"], correct["int8"])
        self.assertLessEqual(abs(correct["1"] - correct["fp32"]), 1)

    def test_mixed_needs_the_float_model(self):
        out = os.path.join(self.dir, "mixed_from_qdq")
        result = e2e.leip("compile", "--input_path", compressed(self, "fmnist_cnn"), "--output_path", out,
                          "--data_type", "mixed", "--rep_dataset", self.calibration)
        self.assertEqual(result.rc, e2e.EXIT_USAGE, result.describe())
        self.assertIn("float model", result.stderr)
        self.assertFalse(os.path.exists(out))

    def test_budget_outside_zero_one(self):
        out = os.path.join(self.dir, "bad_budget")
        result = e2e.leip("compile", "--input_path", self.model, "--output_path", out, "--data_type", "mixed",
                          "--rep_dataset", self.calibration, "--float_budget", "1.5")
        self.assertEqual(result.rc, e2e.EXIT_USAGE, result.describe())
        self.assertIn("--float_budget", result.stderr)
        self.assertFalse(os.path.exists(out))


class Int8TargetsTest(unittest.TestCase):
    """fmnist_resnet's int8 artifact gives bitwise identical logits on the AVX2 (haswell),
    generic SSE2 (x86-64) and host (VNNI where the CPU has it) code paths: every path
    computes the same exact int32 sums and the same float formulas."""

    BATCH = 32

    def test_bitwise_identical_across_x86_64_paths(self):
        flags = cpu_flags()
        if "avx2" not in flags:
            self.skipTest("the host CPU lacks AVX2, so the haswell artifact cannot run here")
        work = e2e.work_dir("int8_targets")
        images, _ = e2e.fmnist_module().load_test(self.BATCH)
        x = e2e.save_npy(os.path.join(work, "images.npy"), images)
        qdq_dir = compressed(self, "fmnist_resnet")
        targets = {"haswell": ["--target", "x86_64 -mcpu=haswell"], "x86-64": ["--target", "x86_64 -mcpu=x86-64"],
                   "host": []}
        logits, code = {}, {}
        for label, args in targets.items():
            artifact, schema, _ = compile_artifact(self, qdq_dir, os.path.join(work, label), *args,
                                                   "--input_shapes", f"{self.BATCH},1,28,28")
            self.assertEqual(schema.get("data_type"), "int8", schema)
            self.assertEqual(schema["quantization"]["float_convs"], [], label)
            if label != "host":
                self.assertEqual(schema["target"]["cpu"], label, schema["target"])
            logits[label] = run_artifact(self, artifact, x, artifact + "_out")
            code[label] = disassembly(os.path.join(artifact, "modelLibrary.so"))

        # The three libraries really take different paths: no AVX in x86-64, no VNNI outside
        # the host's (when it has VNNI).
        if code["host"] is None:
            e2e.log("objdump is not installed: not checking which instructions each library uses")
        else:
            self.assertNotIn("ymm", code["x86-64"])
            self.assertIn("ymm", code["haswell"])
            self.assertNotIn("vpdpbusd", code["haswell"])
            if flags & {"avx512_vnni", "avx_vnni"}:
                self.assertIn("vpdpbusd", code["host"])
        for label in ("haswell", "x86-64"):
            diff = float(np.max(np.abs(logits[label].astype(np.float64) - logits["host"].astype(np.float64))))
            e2e.log(f"fmnist_resnet int8, {label} vs host on {self.BATCH} images: max |diff| {diff:.3g}")
            np.testing.assert_array_equal(logits[label], logits["host"], f"{label} vs host")


class Int8Aarch64Test(unittest.TestCase):
    """fmnist_resnet's int8 artifact compiled for aarch64, run under qemu with
    tests/codegen/aarch64_harness.cpp, predicts what the x86_64 int8 artifact predicts."""

    BATCH = 100

    def test_fmnist_resnet_under_qemu_matches_x86_64(self):
        test_artifacts.require_cross_tools()
        work = e2e.work_dir("int8_aarch64")
        harness = test_artifacts.build_aarch64_harness(self, work)

        qdq_dir = compressed(self, "fmnist_resnet")
        shape = ("--input_shapes", f"{self.BATCH},1,28,28")
        x86, _, _ = compile_artifact(self, qdq_dir, os.path.join(work, "resnet_x86_64"), *shape)
        images, _ = e2e.fmnist_module().load_test(self.BATCH)
        x = e2e.save_npy(os.path.join(work, "images.npy"), images)
        want = run_artifact(self, x86, x, os.path.join(work, "x86_out"))

        # Plain NEON arithmetic, and sdot (+dotprod): the same float epilogue as on x86_64.
        for name, target in (("neon", "aarch64"), ("sdot", "aarch64 -mattr=+dotprod")):
            arm, arm_schema, _ = compile_artifact(self, qdq_dir, os.path.join(work, f"resnet_aarch64_{name}"),
                                                  "--target", target, *shape)
            self.assertEqual(arm_schema["target"]["arch"], "aarch64", arm_schema["target"])
            self.assertEqual(arm_schema.get("data_type"), "int8", arm_schema)
            self.assertEqual(arm_schema["quantization"]["float_convs"], [], arm_schema["quantization"])
            for threads in (1, 2):
                got = test_artifacts.run_under_qemu(self, harness, arm, os.path.join(work, f"arm_out_{name}_{threads}"),
                                                    x, threads)
                self.assertEqual(sorted(got), ["logits"])
                got = got["logits"]
                self.assertEqual(got.shape, want.shape)
                differing = np.flatnonzero(got.argmax(axis=1) != want.argmax(axis=1))
                diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
                e2e.log(f"fmnist_resnet int8 aarch64 {name} ({threads} threads) vs x86_64 on {self.BATCH} images: "
                        f"{len(differing)} predictions differ, max |diff| {diff:.3g}")
                self.assertEqual(differing.tolist(), [], f"{name}: images whose prediction differs, {threads} threads")
                # Every dot-product path feeds the same int32 sums to the same float operations.
                self.assertTrue(np.array_equal(got, want), f"{name}, {threads} threads: max |diff| {diff:.3g}")


if __name__ == "__main__":
    unittest.main()
