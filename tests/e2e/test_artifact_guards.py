"""Artifacts that protect their callers, from the command line (docs/reliability.md):

- model_schema.json carries a checksum, and the library records it too: `leip run`,
  `leip benchmark` and `leip evaluate` refuse an edited schema, or one copied from another
  artifact, with exit code 2 and one line naming the file and what does not match; a schema
  only re-indented still loads.
- an artifact compiled for CPU features this machine lacks (x86_64 -mcpu=sapphirerapids:
  avx512fp16) fails at load with exit code 2, naming the missing features (which the test
  derives from /proc/cpuinfo, not from leip), instead of dying of SIGILL; a haswell artifact
  loads and runs here; an aarch64 +dotprod artifact fails under qemu's cortex-a53 naming
  dotprod (needs the cross tools of tools/install-deps.sh, as e2e_aarch64_qemu).
"""

import json
import os
import shutil
import unittest

import numpy as np

import e2e_common as e2e

# LLVM feature names (CpuFeatures.h) -> the flag Linux prints in /proc/cpuinfo.
CPUINFO_FLAG = {
    "sse3": "pni", "ssse3": "ssse3", "fma": "fma", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "movbe": "movbe",
    "popcnt": "popcnt", "avx": "avx", "f16c": "f16c", "bmi": "bmi1", "avx2": "avx2", "bmi2": "bmi2",
    "avx512f": "avx512f", "avx512dq": "avx512dq", "avx512ifma": "avx512ifma", "avx512cd": "avx512cd",
    "avx512bw": "avx512bw", "avx512vl": "avx512vl", "avx512vbmi": "avx512vbmi", "avx512vbmi2": "avx512_vbmi2",
    "gfni": "gfni", "avx512vnni": "avx512_vnni", "avx512bitalg": "avx512_bitalg",
    "avx512vpopcntdq": "avx512_vpopcntdq", "avx512fp16": "avx512_fp16", "avxvnni": "avx_vnni",
    "avx512bf16": "avx512_bf16",
}


def listed(flags, feature):
    """lzcnt has no dependable cpuinfo flag ("abm" is missing from some VMs' cpuinfo, though
    CPUID has it); every CPU with AVX2 has it, so it counts as present."""
    return feature == "lzcnt" or CPUINFO_FLAG[feature] in flags


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    raise e2e.SetupError("/proc/cpuinfo has no flags line")


def compile_model(model, out, *extra):
    result = e2e.leip("compile", "--input_path", model, "--output_path", out, *extra)
    if result.rc != e2e.EXIT_OK:
        raise AssertionError("leip compile failed\n" + result.describe())
    return out


def read_schema(artifact):
    with open(os.path.join(artifact, "model_schema.json")) as f:
        return json.load(f)


def write_schema(artifact, schema, indent=2):
    with open(os.path.join(artifact, "model_schema.json"), "w") as f:
        json.dump(schema, f, indent=indent)


class SchemaChecksumTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("artifact_guards")
        cls.cnn = e2e.example_model("fmnist_cnn")
        cls.b1 = compile_model(cls.cnn, os.path.join(cls.dir, "cnn_b1"))
        cls.b2 = compile_model(cls.cnn, os.path.join(cls.dir, "cnn_b2"), "--input_shapes", "2,1,28,28")
        cls.resnet = compile_model(e2e.example_model("fmnist_resnet"), os.path.join(cls.dir, "resnet_b1"))
        rng = np.random.default_rng(0)
        cls.x = e2e.save_npy(os.path.join(cls.dir, "x.npy"), rng.random((1, 1, 28, 28), dtype=np.float32))
        cls.images = e2e.save_npy(os.path.join(cls.dir, "images.npy"), rng.random((4, 1, 28, 28), dtype=np.float32))
        cls.labels = e2e.save_npy(os.path.join(cls.dir, "labels.npy"), np.array([1, 2, 3, 4], dtype=np.int64))

    def copy(self, source, name):
        target = os.path.join(self.dir, name)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        return target

    def commands(self, artifact):
        out = os.path.join(self.dir, "out-" + os.path.basename(artifact))
        return {
            "run": ["run", "--input_path", artifact, "--input", self.x, "--output_path", out + "-run"],
            "benchmark": ["benchmark", "--input_path", artifact, "--iterations", "2", "--warmup", "1"],
            "evaluate": ["evaluate", "--input_path", artifact, "--test_path", self.images, "--labels", self.labels,
                         "--output_path", out + "-evaluate"],
        }

    def assert_refused(self, artifact, *must_name):
        for command, args in self.commands(artifact).items():
            with self.subTest(command=command):
                result = e2e.leip(*args)
                self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
                lines = result.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, "expected one line on stderr\n" + result.describe())
                for text in must_name:
                    self.assertIn(text, lines[0], result.describe())
                if "--output_path" in args:
                    output = args[args.index("--output_path") + 1]
                    self.assertFalse(os.path.exists(output), "output written for a refused artifact")

    def test_schema_records_its_checksum(self):
        schema = read_schema(self.b1)
        self.assertRegex(schema.get("checksum", ""), "^[0-9a-f]{64}$")
        # The checksum covers the content: two different compiles have different ones.
        self.assertNotEqual(schema["checksum"], read_schema(self.b2)["checksum"])
        self.assertIn("avx2", schema["target"]["required_features"])

    def test_untouched_and_reindented_schemas_load(self):
        artifact = self.copy(self.b1, "reindented")
        write_schema(artifact, read_schema(artifact), indent=7)  # whitespace only: same content
        for args in [*self.commands(self.b1).values(), *self.commands(artifact).values()]:
            result = e2e.leip(*args)
            self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())

    def test_edited_schema_is_refused(self):
        edits = {
            "shape": lambda s: s["inputs"][0].__setitem__("shape", [2, 1, 28, 28]),
            "data_type": lambda s: s.__setitem__("data_type", "int8"),
            "checksum": lambda s: s.__setitem__("checksum", "0" * 64),
        }
        for what, edit in edits.items():
            with self.subTest(edit=what):
                artifact = self.copy(self.b1, "edited-" + what)
                schema = read_schema(artifact)
                edit(schema)
                write_schema(artifact, schema)
                self.assert_refused(artifact, "model_schema.json", "checksum mismatch")

    def test_schema_of_another_artifact_is_refused(self):
        # Whole and self-consistent, but compiled with another library: the batch-2 schema
        # would make leip feed a batch-1 library two images.
        artifact = self.copy(self.b1, "swapped")
        shutil.copy(os.path.join(self.b2, "model_schema.json"), os.path.join(artifact, "model_schema.json"))
        self.assert_refused(artifact, "model_schema.json", "does not belong to", "modelLibrary.so")
        artifact = self.copy(self.b1, "swapped-library")
        shutil.copy(os.path.join(self.resnet, "modelLibrary.so"), os.path.join(artifact, "modelLibrary.so"))
        self.assert_refused(artifact, "model_schema.json", "does not belong to")

    def test_schema_without_checksum_field_checks_against_the_library(self):
        # The checksum covers the content, not itself: without the field, the library's
        # record still vouches for the content...
        artifact = self.copy(self.b1, "no-checksum")
        schema = read_schema(artifact)
        del schema["checksum"]
        write_schema(artifact, schema)
        result = e2e.leip(*self.commands(artifact)["benchmark"])
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        # ...and refuses it as soon as the content differs.
        schema["data_type"] = "int8"
        write_schema(artifact, schema)
        self.assert_refused(artifact, "model_schema.json", "does not belong to")


class CpuFeaturesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("artifact_cpu")
        cls.cnn = e2e.example_model("fmnist_cnn")
        cls.flags = cpu_flags()
        cls.x = e2e.save_npy(os.path.join(cls.dir, "x.npy"),
                             np.random.default_rng(1).random((1, 1, 28, 28), dtype=np.float32))

    def test_newer_cpu_fails_at_load_naming_the_feature(self):
        if "avx512_fp16" in self.flags:
            self.skipTest("this CPU has avx512fp16: a sapphirerapids artifact runs here")
        artifact = compile_model(self.cnn, os.path.join(self.dir, "spr"), "--target", "x86_64 -mcpu=sapphirerapids")
        required = read_schema(artifact)["target"]["required_features"]
        self.assertIn("avx512fp16", required)
        missing = sorted(f for f in required if not listed(self.flags, f))
        self.assertIn("avx512fp16", missing)
        result = e2e.leip("run", "--input_path", artifact, "--input", self.x, "--output_path",
                          os.path.join(self.dir, "spr-out"))
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.describe())
        # "this CPU lacks a,b, which the artifact was compiled for ..."
        named = lines[0].split("lacks ", 1)[1].split(", which", 1)[0].split(",")
        self.assertEqual(sorted(named), missing, result.describe())
        self.assertIn("model", lines[0])  # names the artifact's library

    def test_older_cpu_artifact_runs_here(self):
        artifact = compile_model(self.cnn, os.path.join(self.dir, "haswell"), "--target", "x86_64 -mcpu=haswell")
        required = read_schema(artifact)["target"]["required_features"]
        self.assertIn("avx2", required)
        self.assertNotIn("avx512f", required)
        self.assertTrue(all(listed(self.flags, f) for f in required), required)
        out = os.path.join(self.dir, "haswell-out")
        result = e2e.leip("run", "--input_path", artifact, "--input", self.x, "--output_path", out)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        want = os.path.join(self.dir, "interp-out")
        result = e2e.leip("run", "--input_path", self.cnn, "--input", self.x, "--output_path", want)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        got, ref = e2e.read_outputs(out), e2e.read_outputs(want)
        for name in ref:
            self.assertLessEqual(e2e.relative_error(got[name], ref[name]), 1e-4, name)


class Aarch64CpuFeaturesTest(unittest.TestCase):
    """The aarch64 check (getauxval HWCAP): a +dotprod artifact under qemu's cortex-a53 (no
    dotprod) fails at load naming it; under qemu's default CPU (which has it) it runs."""

    def test_dotprod_artifact_on_a_cpu_without_it(self):
        import test_artifacts
        test_artifacts.require_cross_tools()
        work = e2e.work_dir("artifact_cpu_aarch64")
        harness = test_artifacts.build_aarch64_harness(self, work)
        artifact = compile_model(e2e.example_model("fmnist_cnn"), os.path.join(work, "cnn_dotprod"), "--target",
                                 "aarch64 -mattr=+dotprod")
        self.assertEqual(read_schema(artifact)["target"]["required_features"], ["neon", "dotprod"])
        x = e2e.save_npy(os.path.join(work, "x.npy"), np.random.default_rng(2).random((1, 1, 28, 28), dtype=np.float32))
        library = os.path.join(artifact, "modelLibrary.so")
        os.makedirs(os.path.join(work, "out"))
        result = e2e.run_command(["qemu-aarch64", "-cpu", "cortex-a53", "-L", "/usr/aarch64-linux-gnu", harness, library,
                                  os.path.join(work, "out"), x], timeout=300)
        self.assertNotEqual(result.rc, 0, result.describe())
        self.assertIn("this CPU lacks dotprod, which the artifact was compiled for", result.stderr, result.describe())
        self.assertEqual(os.listdir(os.path.join(work, "out")), [])
        got = test_artifacts.run_under_qemu(self, harness, artifact, os.path.join(work, "out-max"), x, 1)
        self.assertEqual(sorted(got), ["logits"])


if __name__ == "__main__":
    unittest.main()
