"""Compiled artifacts on the command line: `leip run` and `leip benchmark` on an artifact
directory, and an aarch64 artifact run under qemu by tests/codegen/aarch64_harness.cpp.

The aarch64 test needs the cross tools (aarch64-linux-gnu-g++, qemu-aarch64 and the arm64
libc in /usr/aarch64-linux-gnu): when they are missing it fails and says to run
bash tools/install-deps.sh (CI installs them).
"""

import json
import os
import shutil
import subprocess
import unittest

import numpy as np

import e2e_common as e2e

REQUIRED_BENCHMARK_KEYS = {"min_ms", "median_ms", "p90_ms", "mean_ms", "iterations", "threads", "engine"}


def fashion_like(shape, seed):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def compile_model(model, out, *extra):
    result = e2e.leip("compile", "--input_path", model, "--output_path", out, *extra)
    if result.rc != e2e.EXIT_OK:
        raise AssertionError("leip compile failed\n" + result.describe())
    return out


class RunArtifactTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("run_artifact")
        cls.cnn = e2e.example_model("fmnist_cnn")
        cls.artifact = compile_model(cls.cnn, os.path.join(cls.dir, "cnn_b2"), "--input_shapes", "2,1,28,28")
        cls.x = e2e.save_npy(os.path.join(cls.dir, "x.npy"), fashion_like((2, 1, 28, 28), 0))

    def test_same_outputs_as_interpreter(self):
        compiled_out, interp_out = os.path.join(self.dir, "compiled"), os.path.join(self.dir, "interp")
        result = e2e.leip("run", "--input_path", self.artifact, "--input", self.x, "--output_path", compiled_out,
                          "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        report = json.loads(result.stdout)
        self.assertEqual(report["engine"], "compiled")
        self.assertEqual(report["outputs"][0]["name"], "logits")
        self.assertEqual(report["outputs"][0]["shape"], [2, 10])
        result = e2e.leip("run", "--input_path", self.cnn, "--input", "input=" + self.x, "--output_path", interp_out)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        got, want = e2e.read_outputs(compiled_out), e2e.read_outputs(interp_out)
        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            self.assertEqual(got[name].shape, want[name].shape)
            self.assertLessEqual(e2e.relative_error(got[name], want[name]), 1e-4, name)

    def test_threads_give_identical_outputs(self):
        outs = []
        for threads in (1, 2):
            out = os.path.join(self.dir, f"threads{threads}")
            result = e2e.leip("run", "--input_path", self.artifact, "--input", self.x, "--output_path", out,
                              "--threads", threads)
            self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
            self.assertIn("compiled", result.stdout)
            outs.append(e2e.read_outputs(out)["logits"])
        np.testing.assert_array_equal(outs[0], outs[1])

    def test_wrong_shape_names_the_input(self):
        bad = e2e.save_npy(os.path.join(self.dir, "short.npy"), fashion_like((1, 1, 28, 28), 1))
        result = e2e.leip("run", "--input_path", self.artifact, "--input", bad, "--output_path",
                          os.path.join(self.dir, "bad_shape"))
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
        self.assertIn("input 'input'", result.stderr)
        self.assertIn("[1,1,28,28]", result.stderr)
        self.assertIn("[2,1,28,28]", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.describe())
        self.assertFalse(os.path.exists(os.path.join(self.dir, "bad_shape", "logits.npy")))

    def test_wrong_dtype_names_the_input(self):
        bad = e2e.save_npy(os.path.join(self.dir, "ints.npy"), np.zeros((2, 1, 28, 28), np.int64))
        result = e2e.leip("run", "--input_path", self.artifact, "--input", bad, "--output_path",
                          os.path.join(self.dir, "bad_dtype"))
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
        self.assertIn("input 'input' expects dtype float32, got int64", result.stderr)

    def test_directory_that_is_not_an_artifact(self):
        empty = os.path.join(self.dir, "empty")
        os.makedirs(empty, exist_ok=True)
        result = e2e.leip("run", "--input_path", empty, "--input", self.x, "--output_path",
                          os.path.join(self.dir, "nothing"))
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
        self.assertIn("not a leip artifact directory", result.stderr)

    def test_input_shapes_do_not_apply(self):
        result = e2e.leip("run", "--input_path", self.artifact, "--input", self.x, "--input_shapes", "2,1,28,28")
        self.assertEqual(result.rc, e2e.EXIT_USAGE, result.describe())

    def test_artifact_for_another_architecture(self):
        other = compile_model(self.cnn, os.path.join(self.dir, "cnn_aarch64"), "--target", "aarch64")
        x1 = e2e.save_npy(os.path.join(self.dir, "x1.npy"), fashion_like((1, 1, 28, 28), 2))
        result = e2e.leip("run", "--input_path", other, "--input", x1, "--output_path", os.path.join(self.dir, "o"))
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
        self.assertIn("compiled for aarch64", result.stderr)


class BenchmarkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("benchmark")
        cls.cnn = e2e.example_model("fmnist_cnn")
        cls.artifact = compile_model(cls.cnn, os.path.join(cls.dir, "cnn"))

    def benchmark_json(self, *args):
        result = e2e.leip("benchmark", *args, "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        report = json.loads(result.stdout)
        self.assertTrue(REQUIRED_BENCHMARK_KEYS <= set(report), report)
        self.assertTrue(0 < report["min_ms"] <= report["median_ms"] <= report["p90_ms"], report)
        self.assertLessEqual(report["min_ms"], report["mean_ms"])
        return report

    def test_artifact(self):
        report = self.benchmark_json("--input_path", self.artifact, "--iterations", 20, "--warmup", 2, "--threads", 2)
        self.assertEqual(report["engine"], "compiled")
        self.assertEqual(report["iterations"], 20)
        self.assertEqual(report["threads"], 2)

    def test_onnx_is_compiled_for_the_host(self):
        report = self.benchmark_json("--input_path", self.cnn, "--iterations", 5)
        self.assertEqual(report["engine"], "compiled")
        self.assertEqual(report["threads"], 1)
        self.assertIn("x86_64", report["target"])

    def test_interpreter_engine(self):
        report = self.benchmark_json("--input_path", self.cnn, "--iterations", 3, "--engine", "interpreter")
        self.assertEqual(report["engine"], "interpreter")

    def test_given_input(self):
        x = e2e.save_npy(os.path.join(self.dir, "x.npy"), fashion_like((1, 1, 28, 28), 3))
        self.benchmark_json("--input_path", self.artifact, "--iterations", 3, "--input", x)
        bad = e2e.save_npy(os.path.join(self.dir, "bad.npy"), fashion_like((1, 1, 28, 20), 3))
        result = e2e.leip("benchmark", "--input_path", self.artifact, "--input", bad)
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
        self.assertIn("input 'input' has shape [1,1,28,20]", result.stderr)

    def test_text_output(self):
        result = e2e.leip("benchmark", "--input_path", self.artifact, "--iterations", 5)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        for word in ("min", "median", "p90", "mean", "inferences/s"):
            self.assertIn(word, result.stdout)

    def test_bad_options(self):
        for args in (("--iterations", 0), ("--threads", 0), ("--engine", "gpu")):
            result = e2e.leip("benchmark", "--input_path", self.artifact, *args)
            self.assertEqual(result.rc, e2e.EXIT_USAGE, result.describe())
        result = e2e.leip("benchmark", "--input_path", os.path.join(self.dir, "missing.onnx"))
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())


def require_cross_tools():
    missing = [tool for tool in ("aarch64-linux-gnu-g++", "qemu-aarch64") if shutil.which(tool) is None]
    if not os.path.isfile("/usr/aarch64-linux-gnu/lib/libc.so.6"):
        missing.append("/usr/aarch64-linux-gnu/lib/libc.so.6 (libc6-dev-arm64-cross)")
    if missing:
        raise e2e.SetupError("the aarch64 test needs " + ", ".join(missing) +
                             ": run bash tools/install-deps.sh (CI installs them)")


def build_aarch64_harness(test, work):
    """tests/codegen/aarch64_harness.cpp built with the cross compiler into `work`; its path."""
    source = e2e.source_dir()
    harness = os.path.join(work, "harness")
    build = e2e.run_command(["aarch64-linux-gnu-g++", "-std=c++17", "-O2", "-I", os.path.join(source, "include"),
                             os.path.join(source, "tests", "codegen", "aarch64_harness.cpp"), "-o", harness, "-ldl"])
    test.assertEqual(build.rc, 0, "building the aarch64 harness failed\n" + build.describe())
    return harness


def run_under_qemu(test, harness, artifact, out, images, threads):
    """The aarch64 artifact run by the harness under qemu-aarch64 on `images`; its outputs."""
    os.makedirs(out)
    result = e2e.run_command(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", harness,
                              os.path.join(artifact, "modelLibrary.so"), out, images, "--threads", threads],
                             timeout=300)
    test.assertEqual(result.rc, 0, result.describe())
    return e2e.read_outputs(out)


class Aarch64Test(unittest.TestCase):
    """fmnist_cnn compiled for aarch64, run under qemu, matches the x86_64 artifact."""

    def test_fmnist_cnn_under_qemu_matches_x86_64(self):
        require_cross_tools()
        work = e2e.work_dir("aarch64")
        harness = build_aarch64_harness(self, work)

        model = e2e.example_model("fmnist_cnn")
        arm = compile_model(model, os.path.join(work, "cnn_aarch64"), "--target", "aarch64", "--input_shapes",
                            "4,1,28,28")
        x86 = compile_model(model, os.path.join(work, "cnn_x86_64"), "--input_shapes", "4,1,28,28")
        x = e2e.save_npy(os.path.join(work, "x.npy"), fashion_like((4, 1, 28, 28), 4))

        x86_out = os.path.join(work, "x86_out")
        result = e2e.leip("run", "--input_path", x86, "--input", x, "--output_path", x86_out)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        want = e2e.read_outputs(x86_out)

        for threads in (1, 2):
            got = run_under_qemu(self, harness, arm, os.path.join(work, f"arm_out_{threads}"), x, threads)
            self.assertEqual(sorted(got), sorted(want))
            for name in want:
                self.assertEqual(got[name].shape, want[name].shape)
                self.assertLessEqual(e2e.relative_error(got[name], want[name]), 1e-4, f"{name}, {threads} threads")

        # Bad input reaches the runtime's check through the harness as well.
        bad = e2e.save_npy(os.path.join(work, "bad.npy"), fashion_like((1, 1, 28, 28), 5))
        result = e2e.run_command(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", harness,
                                  os.path.join(arm, "modelLibrary.so"), work, bad])
        self.assertEqual(result.rc, 2, result.describe())
        self.assertIn("input 'input' has shape [1,1,28,28], the model expects [4,1,28,28]", result.stderr)


if __name__ == "__main__":
    unittest.main()
