"""tools/gpu_check.py (the ctypes harness that checks an artifact on the machine it runs on)
and tools/gpu-check.sh (prepare + run), on CPU artifacts: the C ABI is the one CUDA artifacts
export, so everything but the GPU itself is exercised here.

  - a fmnist_cnn artifact against ONNX Runtime's output passes (exit 0, a PASS line, timings);
  - the same with a perturbed reference fails (exit 1) naming the case and the output, with
    the relative error of the perturbation;
  - a library that cannot load, a context that cannot be created (a stub library that fails
    like a CUDA artifact without a driver) and a run that crashes end with exit 3 and the
    loader's / leip_last_error()'s message;
  - --device_io (leip_context_run_device) failing keeps the host results;
  - manifest mode runs every case, lists absent ones, and survives a crashing case;
  - a real CUDA artifact of fmnist_cnn: context creation fails with the runtime's message where
    libcuda.so.1 is missing, and the case passes where it is present;
  - tools/gpu-check.sh prepare (hidden --leip_target x86_64) then run, on fmnist_cnn b1 and b2.
"""

import ctypes
import json
import os
import shutil
import subprocess
import sys
import unittest

import numpy as np

import e2e_common as e2e

# A stand-in artifact library: one input 'x' and one output 'y', float32 [1,4]. Built with
# -DFAIL_CREATE, leip_context_create fails as a CUDA artifact does without a driver; with
# -DCRASH_RUN, leip_context_run aborts.
STUB_SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
static const int64_t dims[2] = {1, 4};
static int model_tag;
const char *last = "";
int32_t leip_runtime_abi_version(void) { return 1; }
const void *leip_model_get(void) { return &model_tag; }
int32_t leip_model_num_inputs(const void *m) { return 1; }
int32_t leip_model_num_outputs(const void *m) { return 1; }
const char *leip_model_input_name(const void *m, int32_t i) { return i == 0 ? "x" : 0; }
const char *leip_model_output_name(const void *m, int32_t i) { return i == 0 ? "y" : 0; }
int32_t leip_model_input_dtype(const void *m, int32_t i) { return 0; }
int32_t leip_model_output_dtype(const void *m, int32_t i) { return 0; }
int32_t leip_model_input_rank(const void *m, int32_t i) { return 2; }
int32_t leip_model_output_rank(const void *m, int32_t i) { return 2; }
const int64_t *leip_model_input_dims(const void *m, int32_t i) { return dims; }
const int64_t *leip_model_output_dims(const void *m, int32_t i) { return dims; }
int64_t leip_model_input_bytes(const void *m, int32_t i) { return 16; }
int64_t leip_model_output_bytes(const void *m, int32_t i) { return 16; }
int32_t leip_context_create(const void *m, void **c) {
#ifdef FAIL_CREATE
  last = "no CUDA driver: libcuda.so.1: cannot open shared object file";
  return 5;
#else
  *c = malloc(1);
  return 0;
#endif
}
void leip_context_destroy(void *c) { free(c); }
int32_t leip_context_set_threads(void *c, int32_t t) { return 0; }
int32_t leip_context_run(void *c, const void *const *in, const int64_t *ib, void *const *out, const int64_t *ob) {
#ifdef CRASH_RUN
  abort();
#endif
  memcpy(out[0], in[0], 16);
  return 0;
}
const char *leip_context_last_error(const void *c) { return ""; }
const char *leip_last_error(void) { return last; }
"""
STUB_SCHEMA = {"inputs": [{"name": "x", "dtype": "float32", "shape": [1, 4]}],
               "outputs": [{"name": "y", "dtype": "float32", "shape": [1, 4]}],
               "target": {"arch": "stub"}}


def gpu_check(*args, timeout=120):
    return e2e.run_command([sys.executable, os.path.join(e2e.source_dir(), "tools", "gpu_check.py"), *args],
                           timeout=timeout)


def build_stub(work, name, define=None):
    """An artifact folder whose modelLibrary.so is the stub above."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise e2e.SetupError("no C compiler (cc) to build the stub library")
    folder = os.path.join(work, name)
    os.makedirs(folder)
    source = os.path.join(work, name + ".c")
    with open(source, "w") as f:
        f.write(STUB_SOURCE)
    build = e2e.run_command([compiler, "-shared", "-fPIC", "-O1", *([f"-D{define}"] if define else []), source, "-o",
                             os.path.join(folder, "modelLibrary.so")])
    if build.rc != 0:
        raise AssertionError("building the stub library failed\n" + build.describe())
    with open(os.path.join(folder, "model_schema.json"), "w") as f:
        json.dump(STUB_SCHEMA, f)
    return folder


class GpuCheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.work_dir("gpu_check")
        cls.model = e2e.example_model("fmnist_cnn")
        cls.artifact = os.path.join(cls.work, "cnn_b2")
        result = e2e.leip("compile", "--input_path", cls.model, "--output_path", cls.artifact, "--target", "x86_64",
                          "--input_shapes", "2,1,28,28")
        if result.rc != e2e.EXIT_OK:
            raise AssertionError("leip compile failed\n" + result.describe())
        cls.x = e2e.save_npy(os.path.join(cls.work, "x.npy"),
                             np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32))
        cls.ref_dir = os.path.join(cls.work, "ort")
        e2e.ort_run(cls.model, cls.ref_dir, ["input=" + cls.x])
        cls.ref = os.path.join(cls.ref_dir, "logits.npy")
        # One logit moved by 2% of the largest magnitude: far beyond the 1e-3 tolerance.
        want = np.load(cls.ref)
        cls.delta = 0.02 * float(np.max(np.abs(want)))
        bad = want.copy()
        bad[1, 3] += cls.delta
        cls.bad_ref = e2e.save_npy(os.path.join(cls.work, "bad_logits.npy"), bad)
        cls.bad_rel = cls.delta / float(np.max(np.abs(bad)))

    def read_json(self, path):
        with open(path) as f:
            return json.load(f)

    def test_matching_reference_passes(self):
        out = os.path.join(self.work, "pass.json")
        result = gpu_check(self.artifact, "--input", self.x, "--reference", "logits=" + self.ref, "--name", "cnn_b2",
                           "--iterations", 7, "--warmup", 1, "--json", out)
        self.assertEqual(result.rc, 0, result.describe())
        self.assertIn("cnn_b2: PASS", result.stdout)
        [case] = self.read_json(out)["cases"]
        self.assertEqual(case["status"], "pass")
        self.assertLessEqual(case["rel_error"], 1e-3)
        self.assertEqual(case["iterations"], 7)
        self.assertTrue(0 < case["min_ms"] <= case["median_ms"] <= case["p90_ms"] <= case["max_ms"], case)
        self.assertTrue(case["repeat_bitwise_identical"])
        self.assertEqual(case["outputs"][0]["shape"], [2, 10])

    def test_perturbed_reference_fails_naming_the_case(self):
        out = os.path.join(self.work, "mismatch.json")
        result = gpu_check(self.artifact, "--input", self.x, "--reference", self.bad_ref, "--name", "cnn_b2",
                           "--iterations", 2, "--json", out)
        self.assertEqual(result.rc, 1, result.describe())
        self.assertIn("cnn_b2: MISMATCH output 'logits'", result.stderr)
        [case] = self.read_json(out)["cases"]
        self.assertEqual(case["status"], "mismatch")
        # The artifact matches ORT to ~1e-6, so the error is the perturbation's.
        self.assertAlmostEqual(case["rel_error"], self.bad_rel, delta=1e-4)
        self.assertAlmostEqual(case["max_abs_diff"], self.delta, delta=1e-3 * self.delta + 1e-5)

    def test_tolerance_option(self):
        result = gpu_check(self.artifact, "--input", self.x, "--reference", self.bad_ref, "--iterations", 1,
                           "--tolerance", 0.05)
        self.assertEqual(result.rc, 0, result.describe())

    def test_library_that_cannot_load(self):
        folder = os.path.join(self.work, "not_elf")
        os.makedirs(folder)
        with open(os.path.join(folder, "modelLibrary.so"), "w") as f:
            f.write("this is not a shared library\n" * 100)
        shutil.copy(os.path.join(self.artifact, "model_schema.json"), folder)
        result = gpu_check(folder, "--input", self.x, "--reference", self.ref)
        self.assertEqual(result.rc, 3, result.describe())
        self.assertIn("cannot load", result.stderr)
        self.assertIn("invalid ELF header", result.stderr)  # the dynamic loader's own words

    def test_context_creation_failure_prints_last_error(self):
        stub = build_stub(self.work, "no_driver", "FAIL_CREATE")
        x = e2e.save_npy(os.path.join(self.work, "stub_x.npy"), np.arange(4, dtype=np.float32).reshape(1, 4))
        result = gpu_check(stub, "--input", x, "--reference", x)
        self.assertEqual(result.rc, 3, result.describe())
        self.assertIn("leip_context_create failed", result.stderr)
        self.assertIn("no CUDA driver: libcuda.so.1", result.stderr)

    def test_device_io_failure_keeps_the_host_results(self):
        # The stub exports no leip_context_run_device (a CPU artifact built before it existed
        # is the same): --device_io fails, the host run's comparison and timings stay.
        stub = build_stub(self.work, "no_device_io")
        x = e2e.save_npy(os.path.join(self.work, "dio_x.npy"), np.arange(4, dtype=np.float32).reshape(1, 4))
        out = os.path.join(self.work, "device_io.json")
        result = gpu_check(stub, "--input", x, "--reference", x, "--device_io", "--iterations", 3, "--json", out)
        self.assertEqual(result.rc, 3, result.describe())
        self.assertIn("does not export leip_context_run_device", result.stderr)
        [case] = self.read_json(out)["cases"]
        self.assertEqual(case["status"], "runtime failure")
        self.assertEqual(case["rel_error"], 0.0)
        self.assertEqual(case["iterations"], 3)

    def test_bad_input_shape(self):
        x = e2e.save_npy(os.path.join(self.work, "x1.npy"), np.zeros((1, 1, 28, 28), np.float32))
        result = gpu_check(self.artifact, "--input", x, "--reference", self.ref)
        self.assertEqual(result.rc, 2, result.describe())
        self.assertIn("input 'input'", result.stderr)
        self.assertIn("[2,1,28,28]", result.stderr)
        self.assertEqual(gpu_check().rc, 2)

    def test_manifest_runs_every_case_and_survives_a_crash(self):
        crash = build_stub(self.work, "crash", "CRASH_RUN")
        identity = build_stub(self.work, "identity")
        x = e2e.save_npy(os.path.join(self.work, "id_x.npy"), np.arange(4, dtype=np.float32).reshape(1, 4))
        rel = lambda p: os.path.relpath(p, self.work)  # noqa: E731 (manifest paths are relative)
        manifest = {"cases": [
            {"name": "crashes", "artifact": rel(crash), "inputs": [rel(x)], "references": [rel(x)]},
            {"name": "identity", "artifact": rel(identity), "inputs": [{"name": "x", "path": rel(x)}],
             "references": [{"name": "y", "path": rel(x)}]},
            {"name": "cnn", "artifact": rel(self.artifact), "inputs": [rel(self.x)], "references": [rel(self.bad_ref)]},
            {"name": "not_carried", "artifact": "absent/artifact", "inputs": [], "references": []},
        ]}
        path = os.path.join(self.work, "manifest.json")
        with open(path, "w") as f:
            json.dump(manifest, f)
        out = os.path.join(self.work, "manifest_results.json")
        result = gpu_check("--manifest", path, "--iterations", 2, "--json", out)
        self.assertEqual(result.rc, 3, result.describe())  # the crash outranks the mismatch
        report = self.read_json(out)
        statuses = {c["name"]: c["status"] for c in report["cases"]}
        self.assertEqual(statuses, {"crashes": "runtime failure", "identity": "pass", "cnn": "mismatch"})
        self.assertEqual(report["absent"], ["not_carried"])
        self.assertIn("killed by signal 6", result.stderr)
        self.assertIn("cnn: MISMATCH", result.stderr)
        # Named explicitly, an absent case is an error; a subset runs alone.
        self.assertEqual(gpu_check("--manifest", path, "--cases", "not_carried").rc, 2)
        result = gpu_check("--manifest", path, "--cases", "identity", "--iterations", 1)
        self.assertEqual(result.rc, 0, result.describe())
        self.assertIn("1/1 case(s) passed", result.stdout)


def cuda_driver_loads():
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


class CudaArtifactTest(unittest.TestCase):
    """A real CUDA artifact: without a driver the library loads and context creation fails
    with the runtime's message; with one (a GPU machine), the case must pass."""

    def test_fmnist_cnn_for_cuda(self):
        work = e2e.work_dir("gpu_check_cuda")
        model = e2e.example_model("fmnist_cnn")
        artifact = os.path.join(work, "cnn_cuda")
        result = e2e.leip("compile", "--input_path", model, "--output_path", artifact, "--target", "cuda -arch=sm_80",
                          "--input_shapes", "2,1,28,28")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        x = e2e.save_npy(os.path.join(work, "x.npy"), np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32))
        e2e.ort_run(model, os.path.join(work, "ort"), ["input=" + x])
        out = os.path.join(work, "cuda.json")
        result = gpu_check(artifact, "--input", x, "--reference", os.path.join(work, "ort", "logits.npy"),
                           "--iterations", 3, "--json", out)
        if cuda_driver_loads():
            self.assertEqual(result.rc, 0, result.describe())
            [case] = self.read_json(out)["cases"]
            self.assertEqual(case["target"], "cuda sm_80")
        else:
            self.assertEqual(result.rc, 3, result.describe())
            self.assertIn("leip_context_create failed", result.stderr)
            self.assertIn("libcuda.so.1", result.stderr)

    def read_json(self, path):
        with open(path) as f:
            return json.load(f)


class GpuCheckScriptTest(unittest.TestCase):
    """tools/gpu-check.sh prepare and run, compiling for x86_64 instead of cuda."""

    def test_prepare_then_run(self):
        work = e2e.work_dir("gpu_check_script")
        out = os.path.join(work, "out")
        script = os.path.join(e2e.source_dir(), "tools", "gpu-check.sh")
        env = dict(os.environ, PYTHON=sys.executable)
        prepare = subprocess.run(["bash", script, "prepare", out, "--leip_target", "x86_64", "--leip", e2e.leip_bin(),
                                  "--models", "fmnist_cnn", "--batches", "1,2"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, timeout=e2e.scaled(120))
        text = prepare.stdout.decode() + prepare.stderr.decode()
        self.assertEqual(prepare.returncode, 0, text)
        self.assertIn("fmnist_cnn_b2", text)
        with open(os.path.join(out, "manifest.json")) as f:
            cases = json.load(f)["cases"]
        self.assertEqual([(c["name"], c["batch"]) for c in cases], [("fmnist_cnn_b1", 1), ("fmnist_cnn_b2", 2)])
        # Each case folder stands alone: its input has the batch, its reference is ORT's.
        x = np.load(os.path.join(out, "fmnist_cnn_b2", "inputs", "input.npy"))
        self.assertEqual(x.shape, (2, 1, 28, 28))
        self.assertEqual(np.load(os.path.join(out, "fmnist_cnn_b2", "reference", "logits.npy")).shape, (2, 10))

        results = os.path.join(work, "results.json")
        run = subprocess.run(["bash", script, "run", out, "--json", results, "--iterations", "3"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, timeout=e2e.scaled(120))
        text = run.stdout.decode() + run.stderr.decode()
        self.assertEqual(run.returncode, 0, text)
        self.assertIn("2/2 case(s) passed", text)
        with open(results) as f:
            self.assertEqual([c["status"] for c in json.load(f)["cases"]], ["pass", "pass"])

        # A second prepare reuses both cases.
        again = subprocess.run(["bash", script, "prepare", out, "--leip_target", "x86_64", "--leip", e2e.leip_bin(),
                                "--models", "fmnist_cnn", "--batches", "1,2"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, timeout=e2e.scaled(120))
        self.assertEqual(again.returncode, 0, again.stdout.decode())
        self.assertEqual(again.stdout.decode().count("up to date, reused"), 2, again.stdout.decode())


if __name__ == "__main__":
    unittest.main()
