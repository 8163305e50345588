"""Bad input to `leip inspect` and `leip run`, and usage errors.

Every bad-input case must give exit code 2, exactly one line on stderr naming the file (or
input / node) at fault, nothing on stdout, no crash, and for `run` no output file at all.
Usage errors exit 1; --help and --version exit 0.
"""

import os
import shutil
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import e2e_common as e2e

CRASH_CODES = (134, 139)  # SIGABRT / SIGSEGV as reported by a shell


def _save(model, path, check=True):
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _model(nodes, inputs, outputs, initializers=(), opset=17, extra_opsets=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    return helper.make_model(graph, opset_imports=imports, producer_name="leip-e2e")


def _f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


class BadInputBase(unittest.TestCase):
    """Builds every bad model and .npy once, in LEIP_E2E_WORK/cases."""

    @classmethod
    def setUpClass(cls):
        d = cls.dir = e2e.work_dir("cases")
        cnn = e2e.example_model("fmnist_cnn")
        cls.cnn = cnn
        with open(cnn, "rb") as f:
            cnn_bytes = f.read()
        cls.truncated = os.path.join(d, "truncated_cnn.onnx")
        with open(cls.truncated, "wb") as f:
            f.write(cnn_bytes[: len(cnn_bytes) // 2])
        cls.random_bytes = os.path.join(d, "random_bytes.onnx")
        with open(cls.random_bytes, "wb") as f:
            f.write(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        cls.empty = os.path.join(d, "empty.onnx")
        open(cls.empty, "wb").close()
        cls.missing = os.path.join(d, "no_such_model.onnx")

        # Two inputs; runs are given only the first.
        cls.two_inputs = _save(_model([helper.make_node("Add", ["left_operand", "right_operand"], ["sum"])],
                                      [_f32("left_operand", [2, 3]), _f32("right_operand", [2, 3])],
                                      [_f32("sum", [2, 3])]),
                               os.path.join(d, "two_inputs.onnx"))
        # Ops leip cannot run: a data-dependent output shape, and a vendor domain.
        cls.nonzero = _save(_model([helper.make_node("NonZero", ["x"], ["idx"], name="find_nonzero")],
                                   [_f32("x", [4])],
                                   [helper.make_tensor_value_info("idx", TensorProto.INT64, [1, "K"])]),
                            os.path.join(d, "nonzero.onnx"))
        cls.custom = _save(_model([helper.make_node("LeipNoSuchOp", ["x"], ["y"], name="custom_fused",
                                                    domain="com.microsoft")],
                                  [_f32("x", [4])], [_f32("y", [4])],
                                  extra_opsets=[("com.microsoft", 1)]),
                           os.path.join(d, "custom_op.onnx"))
        cls.opset18 = _save(_model([helper.make_node("Relu", ["x"], ["y"])], [_f32("x", [4])],
                                   [_f32("y", [4])], opset=18),
                            os.path.join(d, "opset18.onnx"))
        # Weights in a separate file next to the model.
        weights = numpy_helper.from_array(np.arange(64, dtype=np.float32), "bias_weights")
        external = _model([helper.make_node("Add", ["x", "bias_weights"], ["y"])], [_f32("x", [64])],
                          [_f32("y", [64])], initializers=[weights])
        cls.external = os.path.join(d, "external.onnx")
        onnx.save_model(external, cls.external, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="external.weights", size_threshold=0)
        assert os.path.isfile(os.path.join(d, "external.weights")), "onnx did not write the external data"
        # Dynamic height and width: only a user can say what they are.
        cls.dynamic_hw = _save(_model([helper.make_node("GlobalAveragePool", ["image"], ["pooled"])],
                                      [_f32("image", ["N", 3, "H", "W"])], [_f32("pooled", ["N", 3, 1, 1])]),
                               os.path.join(d, "dynamic_hw.onnx"))

        # Inputs.
        rng = np.random.default_rng(3)
        cls.cnn_x = e2e.save_npy(os.path.join(d, "cnn_x.npy"), rng.standard_normal((1, 1, 28, 28)).astype(np.float32))
        cls.x4 = e2e.save_npy(os.path.join(d, "x4.npy"), rng.standard_normal(4).astype(np.float32))
        cls.x64 = e2e.save_npy(os.path.join(d, "x64.npy"), rng.standard_normal(64).astype(np.float32))
        cls.left = e2e.save_npy(os.path.join(d, "left.npy"), rng.standard_normal((2, 3)).astype(np.float32))
        cls.wrong_shape = e2e.save_npy(os.path.join(d, "wrong_shape.npy"),
                                       rng.standard_normal((1, 1, 27, 28)).astype(np.float32))
        cls.wrong_dtype = e2e.save_npy(os.path.join(d, "wrong_dtype.npy"),
                                       rng.integers(0, 255, (1, 1, 28, 28), dtype=np.int64))
        with open(cls.cnn_x, "rb") as f:
            good_npy = f.read()
        cls.bad_magic = os.path.join(d, "bad_magic.npy")
        with open(cls.bad_magic, "wb") as f:
            f.write(b"\x00NOTPY" + good_npy[6:])
        cls.short_data = os.path.join(d, "short_data.npy")
        with open(cls.short_data, "wb") as f:  # the header says 784 floats; half are there
            f.write(good_npy[: len(good_npy) - 392 * 4])
        cls.missing_npy = os.path.join(d, "no_such_input.npy")

    def assert_bad_input(self, result, must_name, out_dir=None):
        """Exit 2, one stderr line containing every string in `must_name`, silent stdout,
        and (for run) no output directory contents."""
        self.assertFalse(result.rc < 0 or result.rc in CRASH_CODES, "leip crashed\n" + result.describe())
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, "expected exit code 2 (bad input)\n" + result.describe())
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, "expected exactly one line on stderr\n" + result.describe())
        line = lines[0]
        self.assertIn("error", line)
        self.assertNotIn("internal error", line)
        for name in must_name:
            self.assertIn(name, line, f"the message does not name {name!r}\n" + result.describe())
        self.assertEqual(result.stdout.strip(), "", "bad input printed to stdout\n" + result.describe())
        if out_dir is not None and os.path.exists(out_dir):
            self.assertEqual(os.listdir(out_dir), [], "a failed run left files behind\n" + result.describe())
        return line

    def run_leip(self, model, *inputs, extra=()):
        """`leip run` into a fresh, not yet existing output folder; returns (result, folder)."""
        out = os.path.join(self.dir, "out_" + self.id().rsplit(".", 1)[-1])
        shutil.rmtree(out, ignore_errors=True)
        args = ["run", "--input_path", model, "--output_path", out, *extra]
        for i in inputs:
            args += ["--input", i]
        return e2e.leip(*args), out


class BadModelTest(BadInputBase):
    """Models leip cannot read or accept: both inspect and run reject them."""

    def check_both(self, model, must_name, run_inputs):
        line = self.assert_bad_input(e2e.leip("inspect", "--input_path", model), must_name)
        self.assert_bad_input(e2e.leip("inspect", "--input_path", model, "--json"), must_name)
        result, out = self.run_leip(model, *run_inputs)
        self.assert_bad_input(result, must_name, out)
        return line

    def test_truncated_model(self):
        self.check_both(self.truncated, [self.truncated], [self.cnn_x])

    def test_random_bytes(self):
        self.check_both(self.random_bytes, [self.random_bytes], [self.cnn_x])

    def test_empty_file(self):
        line = self.check_both(self.empty, [self.empty], [self.cnn_x])
        self.assertIn("empty", line)

    def test_missing_file(self):
        self.check_both(self.missing, [self.missing], [self.cnn_x])

    def test_opset_18(self):
        line = self.check_both(self.opset18, [self.opset18], [self.x4])
        self.assertRegex(line, r"(?i)opset.*18|18.*opset", "the message does not name the opset")

    def test_external_data(self):
        line = self.check_both(self.external, [self.external], [self.x64])
        self.assertIn("external", line.lower())
        self.assertIn("bias_weights", line, "the message does not name the tensor")

    def test_directory_as_model(self):
        self.check_both(self.dir, [self.dir], [self.cnn_x])


class BadRunTest(BadInputBase):
    """Models leip reads, with data or ops it cannot accept: `leip run` rejects them."""

    def test_unsupported_op_nonzero(self):
        result, out = self.run_leip(self.nonzero, self.x4)
        self.assert_bad_input(result, [self.nonzero, "find_nonzero", "NonZero"], out)

    def test_unsupported_custom_domain_op(self):
        result, out = self.run_leip(self.custom, self.x4)
        self.assert_bad_input(result, [self.custom, "custom_fused", "LeipNoSuchOp"], out)

    def test_missing_input(self):
        result, out = self.run_leip(self.two_inputs, f"left_operand={self.left}")
        self.assert_bad_input(result, ["right_operand"], out)

    def test_unknown_input_name(self):
        result, out = self.run_leip(self.cnn, f"no_such_input={self.cnn_x}")
        self.assert_bad_input(result, ["no_such_input"], out)

    def test_more_inputs_than_the_model_has(self):
        result, out = self.run_leip(self.cnn, self.cnn_x, self.cnn_x)
        self.assert_bad_input(result, [self.cnn_x], out)

    def test_wrong_shape(self):
        # The batch dim is bound from the file; dim 2 (height 28) is fixed by the model.
        result, out = self.run_leip(self.cnn, self.wrong_shape)
        line = self.assert_bad_input(result, ["28"], out)
        self.assertTrue(os.path.basename(self.wrong_shape) in line or "'input'" in line,
                        "the message names neither the .npy file nor the input\n" + result.describe())
        # The user gave no --input_shapes; the message must not blame that option.
        self.assertNotIn("--input_shapes gives", line, "misleading message\n" + result.describe())

    def test_wrong_dtype(self):
        result, out = self.run_leip(self.cnn, self.wrong_dtype)
        self.assert_bad_input(result, [self.wrong_dtype], out)

    def test_npy_bad_magic(self):
        result, out = self.run_leip(self.cnn, self.bad_magic)
        self.assert_bad_input(result, [self.bad_magic], out)

    def test_npy_header_claims_more_data(self):
        result, out = self.run_leip(self.cnn, self.short_data)
        self.assert_bad_input(result, [self.short_data], out)

    def test_missing_npy(self):
        result, out = self.run_leip(self.cnn, self.missing_npy)
        self.assert_bad_input(result, [self.missing_npy], out)

    def test_output_path_is_a_file(self):
        blocker = os.path.join(self.dir, "a_file_not_a_dir")
        with open(blocker, "w") as f:
            f.write("x")
        result = e2e.leip("run", "--input_path", self.cnn, "--input", self.cnn_x, "--output_path", blocker)
        self.assert_bad_input(result, [blocker])
        with open(blocker) as f:
            self.assertEqual(f.read(), "x", "the file in the way was changed")


class DynamicDimsTest(BadInputBase):
    """A dynamic non-batch dim: an error without --input_shapes, fine with it."""

    def test_inspect_without_input_shapes(self):
        for extra in ([], ["--json"]):
            result = e2e.leip("inspect", "--input_path", self.dynamic_hw, *extra)
            line = self.assert_bad_input(result, ["image", "--input_shapes"])
            self.assertIn(self.dynamic_hw, line)

    def test_inspect_with_input_shapes(self):
        result = e2e.leip("inspect", "--input_path", self.dynamic_hw, "--input_shapes", "2,3,5,7", "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertIn("[2,3,1,1]", result.stdout.replace(" ", "").replace("\n", ""))

    def test_run_binds_dims_from_the_npy(self):
        x = np.random.default_rng(5).standard_normal((2, 3, 5, 7)).astype(np.float32)
        path = e2e.save_npy(os.path.join(self.dir, "image_2x3x5x7.npy"), x)
        result, out = self.run_leip(self.dynamic_hw, path)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        pooled = np.load(os.path.join(out, "pooled.npy"))
        np.testing.assert_allclose(pooled, x.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6)

    def test_input_shapes_contradicting_the_model(self):
        # --input_shapes with a wrong channel count (the model fixes 3).
        result = e2e.leip("inspect", "--input_path", self.dynamic_hw, "--input_shapes", "1,4,8,8")
        self.assert_bad_input(result, ["image"])


class UsageTest(unittest.TestCase):
    """Usage errors exit 1 with a message on stderr; --help and --version exit 0."""

    def assert_usage(self, result):
        self.assertEqual(result.rc, e2e.EXIT_USAGE, "expected exit code 1 (usage)\n" + result.describe())
        self.assertTrue(result.stderr.strip(), "a usage error printed no message\n" + result.describe())

    def test_no_command(self):
        self.assert_usage(e2e.leip())

    def test_unknown_command(self):
        self.assert_usage(e2e.leip("frobnicate"))

    def test_unknown_flag(self):
        self.assert_usage(e2e.leip("--no_such_flag"))
        self.assert_usage(e2e.leip("inspect", "--input_path", e2e.example_model("fmnist_cnn"), "--no_such_flag"))
        self.assert_usage(e2e.leip("run", "--input_path", e2e.example_model("fmnist_cnn"), "--input", "x.npy",
                                   "--no_such_flag"))

    def test_missing_required_option(self):
        self.assert_usage(e2e.leip("inspect"))
        self.assert_usage(e2e.leip("run", "--input", "x.npy"))

    def test_bad_input_shapes_syntax(self):
        self.assert_usage(e2e.leip("inspect", "--input_path", e2e.example_model("fmnist_cnn"),
                                   "--input_shapes", "1,x,28,28"))

    def test_help(self):
        result = e2e.leip("--help")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        for word in ("inspect", "run"):
            self.assertIn(word, result.stdout)
        for command in ("inspect", "run"):
            result = e2e.leip(command, "--help")
            self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
            self.assertIn("--input_path", result.stdout)

    def test_version(self):
        result = e2e.leip("--version")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertEqual(result.stdout.strip(), f"leip {e2e.env('LEIP_VERSION')}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
