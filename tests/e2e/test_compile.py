"""`leip compile`: the artifact directory, its dependencies, and errors.

Numerical agreement of compiled code with the interpreter is checked in C++ through the
runtime wrapper (tests/codegen); here the command line itself is exercised.
"""

import json
import os
import subprocess
import unittest

import onnx
from onnx import TensorProto, helper

import e2e_common as e2e

ALLOWED_NEEDED = {"libc.so.6", "libm.so.6", "libpthread.so.0"}


def needed_libraries(path):
    out = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, check=True).stdout.decode()
    return [line.split("[")[1].split("]")[0] for line in out.splitlines() if "(NEEDED)" in line]


class CompileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("compile")
        cls.cnn = e2e.example_model("fmnist_cnn")

    def test_cnn_artifact(self):
        out = os.path.join(self.dir, "cnn")
        result = e2e.leip("compile", "--input_path", self.cnn, "--output_path", out)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertEqual(sorted(os.listdir(out)), ["modelLibrary.so", "model_schema.json"])
        with open(os.path.join(out, "model_schema.json")) as f:
            schema = json.load(f)
        self.assertEqual(schema["inputs"], [{"name": "input", "dtype": "float32", "shape": [1, 1, 28, 28]}])
        self.assertEqual(schema["outputs"], [{"name": "logits", "dtype": "float32", "shape": [1, 10]}])
        self.assertEqual(schema["data_type"], "float32")
        self.assertEqual(schema["leip_version"], os.environ["LEIP_VERSION"])
        self.assertEqual(schema["target"]["arch"], "x86_64")
        self.assertEqual(len(schema["source"]["sha256"]), 64)
        self.assertGreater(schema["peak_activation_bytes"], 0)
        needed = needed_libraries(os.path.join(out, "modelLibrary.so"))
        self.assertTrue(needed and set(needed) <= ALLOWED_NEEDED, needed)

    def test_batch_from_input_shapes(self):
        out = os.path.join(self.dir, "cnn_b8")
        result = e2e.leip("compile", "--input_path", self.cnn, "--output_path", out, "--input_shapes", "8,1,28,28",
                          "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertIn("peak_activation_bytes", json.loads(result.stdout))
        with open(os.path.join(out, "model_schema.json")) as f:
            self.assertEqual(json.load(f)["outputs"][0]["shape"], [8, 10])

    def test_aarch64_artifact(self):
        out = os.path.join(self.dir, "cnn_aarch64")
        result = e2e.leip("compile", "--input_path", self.cnn, "--output_path", out, "--target", "aarch64")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        lib = os.path.join(out, "modelLibrary.so")
        header = subprocess.run(["readelf", "-h", lib], stdout=subprocess.PIPE, check=True).stdout.decode()
        self.assertIn("AArch64", header)
        needed = needed_libraries(lib)
        self.assertTrue(needed and set(needed) <= ALLOWED_NEEDED, needed)

    def test_op_without_kernel(self):
        graph = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"], name="squash")], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        path = os.path.join(self.dir, "sigmoid.onnx")
        onnx.save(model, path)
        out = os.path.join(self.dir, "sigmoid_out")
        result = e2e.leip("compile", "--input_path", path, "--output_path", out)
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
        self.assertIn("squash", result.stderr)
        self.assertIn("op Sigmoid cannot be compiled yet", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.describe())
        self.assertFalse(os.path.exists(out), "a failed compile must not leave an artifact")
        self.assertEqual([n for n in os.listdir(self.dir) if "partial" in n], [])

    def test_unknown_target_is_usage_error(self):
        out = os.path.join(self.dir, "riscv")
        result = e2e.leip("compile", "--input_path", self.cnn, "--output_path", out, "--target", "riscv")
        self.assertEqual(result.rc, e2e.EXIT_USAGE, result.describe())
        self.assertIn("riscv", result.stderr)
        self.assertFalse(os.path.exists(out))

    def test_missing_model(self):
        result = e2e.leip("compile", "--input_path", os.path.join(self.dir, "nope.onnx"), "--output_path",
                          os.path.join(self.dir, "nope"))
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())


if __name__ == "__main__":
    unittest.main()
