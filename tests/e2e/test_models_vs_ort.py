"""`leip run` (reference interpreter) against ONNX Runtime on whole models.

For every example model (batch 1 and batch 3 of seeded random data, and 8 real Fashion-MNIST
test images) and the torchvision resnet18 / mobilenet_v2 exports (random weights), runs

    leip run --input_path M --input x.npy --output_path D1
    node tools/ort_run.js M D2 x.npy

and requires the same output files, shapes and dtypes, and
max|leip - ort| <= 1e-4 * max|ort| for every output (the project's fp32 bar). On the real
images every image's argmax must agree with ONNX Runtime's. The measured relative errors are
printed (and summarized at the end of each class) for the record.
"""

import json
import os
import unittest

import numpy as np

import e2e_common as e2e

RELATIVE_TOLERANCE = 1e-4
SEED = 1234
NUM_IMAGES = 8


class OrtComparison(unittest.TestCase):
    """Runs leip and ONNX Runtime on the same inputs and compares every output."""

    errors = None  # {label: max relative error}, per class

    @classmethod
    def setUpClass(cls):
        cls.errors = {}

    @classmethod
    def tearDownClass(cls):
        if cls.errors:
            e2e.log(f"\n{cls.__name__}: max |leip - ort| / max |ort| per run")
            for label, err in sorted(cls.errors.items()):
                e2e.log(f"  {label:45s} {err:.3e}")

    def compare(self, label, model, input_args):
        """Runs both on `input_args` ([NAME=]file.npy ...); returns (leip outputs, ort outputs)."""
        work = e2e.work_dir(label)
        leip_dir = os.path.join(work, "leip")
        ort_dir = os.path.join(work, "ort")
        args = ["run", "--input_path", model, "--output_path", leip_dir]
        for a in input_args:
            args += ["--input", a]
        result = e2e.leip(*args)
        self.assertEqual(result.rc, e2e.EXIT_OK, "leip run failed\n" + result.describe())
        self.assertIn("ran ", result.stdout, "leip run printed no summary\n" + result.describe())
        e2e.ort_run(model, ort_dir, input_args)

        got = e2e.read_outputs(leip_dir)
        want = e2e.read_outputs(ort_dir)
        self.assertTrue(want, f"ONNX Runtime wrote no outputs for {model}")
        self.assertEqual(sorted(got), sorted(want), f"{label}: leip and ONNX Runtime wrote different output files")
        worst = 0.0
        for name in want:
            g, w = got[name], want[name]
            self.assertEqual(g.shape, w.shape, f"{label}: output {name!r} shape")
            self.assertEqual(g.dtype, w.dtype, f"{label}: output {name!r} dtype")
            self.assertTrue(np.all(np.isfinite(w)), f"{label}: ONNX Runtime output {name!r} is not finite")
            self.assertTrue(np.all(np.isfinite(g)), f"{label}: leip output {name!r} has NaN or inf")
            err = e2e.relative_error(g, w)
            worst = max(worst, err)
            print(f"{label}: output {name!r} {list(w.shape)} max|leip-ort|/max|ort| = {err:.3e} "
                  f"(max|ort| = {float(np.max(np.abs(w))):.4g})", flush=True)
            self.assertLessEqual(err, RELATIVE_TOLERANCE,
                                 f"{label}: output {name!r}: max|leip - ort| / max|ort| = {err:.3e} "
                                 f"> {RELATIVE_TOLERANCE:g}\n{result.describe()}")
        type(self).errors[label] = worst
        return got, want


class ExampleModelsTest(OrtComparison):
    """The three trained Fashion-MNIST models: dynamic batch bound from the .npy shape."""

    def check_random(self, model_name, batch):
        model = e2e.example_model(model_name)
        label = f"{model_name}_random_batch{batch}"
        x = np.random.default_rng(SEED + batch).standard_normal((batch, 1, 28, 28)).astype(np.float32)
        path = e2e.save_npy(os.path.join(e2e.work_dir(label + "_in"), "x.npy"), x)
        got, _ = self.compare(label, model, [path])  # positional: fills the only input
        self.assertEqual(got["logits"].shape, (batch, 10), f"{label}: logits shape")

    def check_images(self, model_name):
        model = e2e.example_model(model_name)
        label = f"{model_name}_fmnist_images"
        images, labels = e2e.fmnist_module().load_test(NUM_IMAGES)
        path = e2e.save_npy(os.path.join(e2e.work_dir(label + "_in"), "images.npy"), images)
        got, want = self.compare(label, model, [f"input={path}"])  # by name
        leip_top1 = np.argmax(got["logits"], axis=1)
        ort_top1 = np.argmax(want["logits"], axis=1)
        print(f"{label}: leip top-1 {leip_top1.tolist()}, ort {ort_top1.tolist()}, labels {labels.tolist()} "
              f"({int(np.sum(leip_top1 == labels))}/{NUM_IMAGES} correct)", flush=True)
        np.testing.assert_array_equal(leip_top1, ort_top1, f"{label}: argmax differs from ONNX Runtime")


def _add_example_tests():
    def random_test(name, batch):
        return lambda self: self.check_random(name, batch)

    def images_test(name):
        return lambda self: self.check_images(name)

    for name in e2e.EXAMPLE_MODELS:
        setattr(ExampleModelsTest, f"test_{name}_random_batch1", random_test(name, 1))
        setattr(ExampleModelsTest, f"test_{name}_random_batch3", random_test(name, 3))
        setattr(ExampleModelsTest, f"test_{name}_fmnist_images", images_test(name))


_add_example_tests()


class RunJsonTest(unittest.TestCase):
    """`leip run --json`: the summary describes the files it wrote."""

    def test_json_summary_matches_files(self):
        model = e2e.example_model("fmnist_cnn")
        work = e2e.work_dir("run_json")
        x = np.random.default_rng(SEED).standard_normal((2, 1, 28, 28)).astype(np.float32)
        path = e2e.save_npy(os.path.join(work, "x.npy"), x)
        out = os.path.join(work, "out")
        result = e2e.leip("run", "--input_path", model, "--input", path, "--output_path", out, "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        try:
            summary = json.loads(result.stdout)
        except json.JSONDecodeError as e:
            self.fail(f"--json output is not JSON ({e})\n{result.describe()}")
        self.assertEqual(summary.get("engine"), "interpreter")
        self.assertGreaterEqual(summary.get("latency_ms", -1), 0)
        outputs = summary["outputs"]
        self.assertEqual([o["name"] for o in outputs], ["logits"])
        entry = outputs[0]
        self.assertEqual(entry["shape"], [2, 10])
        self.assertEqual(entry["dtype"], "f32")
        logits = np.load(entry["path"])
        self.assertEqual(os.path.abspath(entry["path"]), os.path.abspath(os.path.join(out, "logits.npy")))
        self.assertEqual(entry["argmax"], np.argmax(logits, axis=-1).tolist())
        self.assertAlmostEqual(entry["min"], float(np.min(logits)), places=4)
        self.assertAlmostEqual(entry["max"], float(np.max(logits)), places=4)
        self.assertAlmostEqual(entry["mean"], float(np.mean(logits)), places=4)
        self.assertEqual(sorted(os.listdir(out)), ["logits.npy"], "leftover temporary files")


class TorchvisionModelsTest(OrtComparison):
    """resnet18 and mobilenet_v2 with random weights, [1,3,224,224]."""

    def check(self, model_name):
        model = e2e.torchvision_model(model_name)
        x = np.random.default_rng(SEED).standard_normal((1, 3, 224, 224)).astype(np.float32)
        path = e2e.save_npy(os.path.join(e2e.work_dir(model_name + "_in"), "x.npy"), x)
        got, _ = self.compare(f"{model_name}_random", model, [path])
        self.assertEqual(got["output"].shape, (1, 1000))

    def test_resnet18(self):
        self.check("resnet18")

    def test_mobilenet_v2(self):
        self.check("mobilenet_v2")


if __name__ == "__main__":
    unittest.main(verbosity=2)
