"""`leip evaluate` on Fashion-MNIST: accuracy against ONNX Runtime, results.json, bad input.

The oracle is tools/ort_accuracy.js (ONNX Runtime, graph optimizations off) on the same
images, preprocessed by tools/fmnist.py. leip must count exactly the same correct top-1 and
top-5 predictions: through the reference interpreter, through a compiled artifact, from a
folder of per-sample .npy files, and from an index.txt of PNG images (written here with a
small zlib PNG encoder, so no imaging library is needed) preprocessed by leip itself.
"""

import json
import os
import shutil
import struct
import subprocess
import unittest
import zlib

import numpy as np

import e2e_common as e2e

COUNT = 1000
FMNIST_MEAN, FMNIST_STD = "0.2860", "0.3530"  # tools/fmnist.py's preprocessing


def write_png_gray(path, pixels):
    """An 8-bit grayscale PNG (one zlib stream, filter type 0 on every row)."""
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].astype(np.uint8).tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


class EvaluateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("evaluate")
        cls.cnn = e2e.example_model("fmnist_cnn")
        fmnist = e2e.fmnist_module()
        images, labels = fmnist.load_test(COUNT)
        cls.images = e2e.save_npy(os.path.join(cls.dir, "images.npy"), images)
        cls.labels = e2e.save_npy(os.path.join(cls.dir, "labels.npy"), labels)
        cls.label_array = labels
        cls.class_names = os.path.join(cls.dir, "classes.txt")
        with open(cls.class_names, "w") as f:
            f.write("\n".join(fmnist.CLASS_NAMES) + "\n")
        cls.oracle = e2e.ort_accuracy(cls.cnn, cls.images, cls.labels)
        if cls.oracle["images"] != COUNT:
            raise AssertionError(f"the oracle scored {cls.oracle['images']} images, not {COUNT}")
        cls.oracle_top5 = round(cls.oracle["top5"] * COUNT)

    def evaluate(self, *args, out=None):
        """Runs leip evaluate --json into `out`; checks exit 0 and that results.json is what it printed."""
        out = out or os.path.join(self.dir, "out_" + self.id().rsplit(".", 1)[-1])
        result = e2e.leip("evaluate", *args, "--output_path", out, "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        printed = json.loads(result.stdout)
        with open(os.path.join(out, "results.json")) as f:
            self.assertEqual(json.load(f), printed)
        self.assertEqual([n for n in os.listdir(out) if n != "results.json"], [], "temporary files left behind")
        return printed

    def assert_matches_oracle(self, report, items=COUNT):
        self.assertEqual(report["items"], items)
        self.assertEqual(report["correct_top1"], self.oracle["correct"],
                         f"leip and ONNX Runtime disagree on correct top-1 predictions\n{report}\n{self.oracle}")
        self.assertEqual(report["correct_top5"], self.oracle_top5)
        self.assertAlmostEqual(report["top1"], 100.0 * self.oracle["correct"] / items, places=9)
        self.assertAlmostEqual(report["top5"], 100.0 * self.oracle_top5 / items, places=9)

    def test_interpreter_matches_onnx_runtime(self):
        report = self.evaluate("--input_path", self.cnn, "--test_path", self.images, "--labels", self.labels,
                               "--class_names", self.class_names)
        self.assert_matches_oracle(report)
        self.assertEqual(report["engine"], "interpreter")
        self.assertEqual(report["classes"], 10)
        self.assertEqual(report["preprocessor"]["name"], "identity")
        self.assertGreater(report["latency_ms"]["mean"], 0)
        self.assertLessEqual(report["latency_ms"]["min"], report["latency_ms"]["median"])
        # Per class: counts from the labels themselves; the correct ones add up to the total.
        per_class = report["per_class"]
        want_items = np.bincount(self.label_array, minlength=10)
        self.assertEqual([c["items"] for c in per_class], [int(n) for n in want_items if n])
        self.assertEqual(sum(c["correct_top1"] for c in per_class), report["correct_top1"])
        self.assertEqual(per_class[6]["name"], "Shirt")
        for c in per_class:
            self.assertAlmostEqual(c["top1"], 100.0 * c["correct_top1"] / c["items"], places=9)

    def test_compiled_artifact_matches_onnx_runtime(self):
        artifact = os.path.join(self.dir, "cnn_artifact")
        result = e2e.leip("compile", "--input_path", self.cnn, "--output_path", artifact)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        report = self.evaluate("--input_path", artifact, "--test_path", self.images, "--labels", self.labels)
        self.assert_matches_oracle(report)
        self.assertEqual(report["engine"], "compiled")

    def test_batched_artifact_with_a_partial_last_batch(self):
        # Batch 7: 1000 = 142 * 7 + 6, so the last batch is padded and only 6 rows count.
        artifact = os.path.join(self.dir, "cnn_b7")
        result = e2e.leip("compile", "--input_path", self.cnn, "--output_path", artifact, "--input_shapes", "7,1,28,28")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        report = self.evaluate("--input_path", artifact, "--test_path", self.images, "--labels", self.labels)
        self.assert_matches_oracle(report)
        self.assertEqual(report["batch"], 7)

    def test_folder_of_npy_files(self):
        folder = os.path.join(self.dir, "npy_folder")
        os.makedirs(folder, exist_ok=True)
        images = np.load(self.images)
        for i in range(COUNT):  # one [1,28,28] sample per file; names sort in sample order
            np.save(os.path.join(folder, f"{i:04d}.npy"), images[i])
        report = self.evaluate("--input_path", self.cnn, "--test_path", folder, "--labels", self.labels)
        self.assert_matches_oracle(report)

    def test_index_of_png_images_preprocessed_by_leip(self):
        folder = os.path.join(self.dir, "png")
        os.makedirs(os.path.join(folder, "img"), exist_ok=True)
        raw_images, raw_labels = e2e.fmnist_module().load_raw("test")
        lines = ["# Fashion-MNIST test images: path label"]
        for i in range(COUNT):
            write_png_gray(os.path.join(folder, "img", f"{i:04d}.png"), raw_images[i])
            lines.append(f"img/{i:04d}.png {raw_labels[i]}")
        index = os.path.join(folder, "index.txt")
        with open(index, "w") as f:
            f.write("\n".join(lines) + "\n")
        report = self.evaluate("--input_path", self.cnn, "--test_path", index, "--scale", "1/255", "--mean",
                               FMNIST_MEAN, "--std", FMNIST_STD)
        # leip computes (p * (1/255) - mean) / std, fmnist.py p / 255 then the rest in float32:
        # the inputs differ in the last bits at most, which moves no prediction on these images.
        self.assert_matches_oracle(report)
        self.assertEqual(report["preprocessor"]["name"], "custom")
        self.assertAlmostEqual(report["preprocessor"]["mean"][0], 0.286, places=6)
        self.assertIsNone(report["labels"])

    def test_max_samples_and_default_output_folder(self):
        cwd = os.path.join(self.dir, "cwd")
        os.makedirs(cwd, exist_ok=True)
        proc = subprocess.run([e2e.leip_bin(), "evaluate", "--input_path", self.cnn, "--test_path", self.images,
                               "--labels", self.labels, "--max_samples", "100"], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=e2e.scaled(e2e.COMMAND_TIMEOUT_S), stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, e2e.EXIT_OK, proc.stderr.decode())
        text = proc.stdout.decode()
        with open(os.path.join(cwd, "results.json")) as f:
            report = json.load(f)
        self.assertEqual(report["items"], 100)
        # The first 100 images: the oracle on exactly those.
        first = e2e.save_npy(os.path.join(self.dir, "first100.npy"), np.load(self.images)[:100])
        first_labels = e2e.save_npy(os.path.join(self.dir, "first100_labels.npy"), self.label_array[:100])
        self.assertEqual(report["correct_top1"], e2e.ort_accuracy(self.cnn, first, first_labels)["correct"])
        self.assertIn("top-1", text)
        self.assertIn(f"({report['correct_top1']} correct)", text)
        self.assertIn("results.json", text)


class EvaluateBadInputTest(unittest.TestCase):
    """Exit 2 and one line naming the file, or exit 1 for a bad flag; no results.json."""

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("evaluate_bad")
        cls.cnn = e2e.example_model("fmnist_cnn")
        rng = np.random.default_rng(0)
        d = cls.dir
        cls.images = e2e.save_npy(os.path.join(d, "images.npy"), rng.standard_normal((8, 1, 28, 28)).astype(np.float32))
        cls.labels = e2e.save_npy(os.path.join(d, "labels.npy"), np.arange(8, dtype=np.int64) % 10)
        nan = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
        nan[3, 0, 5, 5] = np.nan
        cls.nan = e2e.save_npy(os.path.join(d, "nan.npy"), nan)
        cls.wrong_shape = e2e.save_npy(os.path.join(d, "wrong_shape.npy"), np.zeros((8, 28, 28), np.float32))
        cls.short_labels = e2e.save_npy(os.path.join(d, "short_labels.npy"), np.zeros(5, np.int64))
        cls.big_label = e2e.save_npy(os.path.join(d, "big_label.npy"), np.array([0, 1, 2, 10, 4, 5, 6, 7], np.int64))
        cls.corrupt_png = os.path.join(d, "corrupt.png")
        with open(cls.corrupt_png, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\nnot really a png")
        write_png_gray(os.path.join(d, "good.png"), np.zeros((28, 28), np.uint8))
        cls.corrupt_index = os.path.join(d, "corrupt_index.txt")
        with open(cls.corrupt_index, "w") as f:
            f.write("good.png 1\ncorrupt.png 2\n")
        cls.malformed_index = os.path.join(d, "malformed_index.txt")
        with open(cls.malformed_index, "w") as f:
            f.write("good.png 1\n\ngood.png shirt\n")
        cls.two_names = os.path.join(d, "two_names.txt")
        with open(cls.two_names, "w") as f:
            f.write("cat\ndog\n")

    def bad(self, must_name, *args, code=e2e.EXIT_BAD_INPUT):
        out = os.path.join(self.dir, "out_" + self.id().rsplit(".", 1)[-1])
        shutil.rmtree(out, ignore_errors=True)
        result = e2e.leip("evaluate", "--input_path", self.cnn, "--output_path", out, *args)
        self.assertEqual(result.rc, code, result.describe())
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, "expected one line on stderr\n" + result.describe())
        for name in must_name:
            self.assertIn(name, lines[0], result.describe())
        self.assertFalse(os.path.exists(os.path.join(out, "results.json")), "a failed run wrote results.json")
        return lines[0]

    def test_no_labels(self):
        self.bad([self.images, "needs labels"], "--test_path", self.images)

    def test_wrong_shape(self):
        self.bad([self.wrong_shape, "[8,28,28]"], "--test_path", self.wrong_shape, "--labels", self.labels)

    def test_nan_names_the_sample(self):
        self.bad([self.nan + "[3]", "NaN"], "--test_path", self.nan, "--labels", self.labels)

    def test_label_count_mismatch(self):
        self.bad([self.short_labels, "8"], "--test_path", self.images, "--labels", self.short_labels)

    def test_label_outside_the_classes(self):
        self.bad([self.images + "[3]", "label 10"], "--test_path", self.images, "--labels", self.big_label)

    def test_corrupt_png(self):
        self.bad([self.corrupt_png], "--test_path", self.corrupt_index)

    def test_malformed_index_line(self):
        self.bad([self.malformed_index + ":3"], "--test_path", self.malformed_index)

    def test_missing_test_path(self):
        missing = os.path.join(self.dir, "no_such_dir")
        self.bad([missing], "--test_path", missing)

    def test_unknown_preprocessor(self):
        self.bad(["imagenet_v9"], "--test_path", self.images, "--labels", self.labels, "--preprocessor", "imagenet_v9")

    def test_imagenet_mean_on_a_grayscale_model(self):
        self.bad(["3 per-channel"], "--test_path", self.images, "--labels", self.labels, "--preprocessor", "imagenet")

    def test_class_names_count(self):
        self.bad([self.two_names, "10 classes"], "--test_path", self.images, "--labels", self.labels,
                 "--class_names", self.two_names)

    def test_bad_scale_is_a_usage_error(self):
        self.bad(["--scale"], "--test_path", self.images, "--labels", self.labels, "--scale", "one/255",
                 code=e2e.EXIT_USAGE)


if __name__ == "__main__":
    unittest.main()
