"""tools/benchmark.py and tools/int8_models.py, the speed report of docs/performance.md: a
one-round smoke run on fmnist_cnn that must produce fp32 and int8 rows (leip int8 either
measured or marked unavailable with leip's message), the int8 table in the Markdown, and
reuse of the cached compress output and artifacts while their inputs stay the same.

Speed itself is not asserted: these machines are noisy.
"""

import json
import os
import sys
import unittest

import e2e_common as e2e


def benchmark(work, *extra):
    """One quick run of tools/benchmark.py on fmnist_cnn, 1 thread; returns (result, results JSON)."""
    results = os.path.join(work, "results.json")
    args = [sys.executable, os.path.join(e2e.source_dir(), "tools", "benchmark.py"), "--leip", e2e.leip_bin(),
            "--build_dir", work, "--models_dir", os.path.join(work, "models"), "--models", "fmnist_cnn",
            "--threads", "1", "--rounds", "1", "--iterations", "2", "--warmup", "0", "--output",
            os.path.join(work, "performance.md"), "--results", results, *extra]
    result = e2e.run_command(args, timeout=600)
    if result.rc != 0:
        raise AssertionError("tools/benchmark.py failed\n" + result.describe())
    with open(results) as f:
        return result, json.load(f)


class BenchmarkToolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.work_dir("benchmark_tool")
        cls.first, cls.json1 = benchmark(cls.work)
        cls.second, cls.json2 = benchmark(cls.work)

    def row(self, results):
        [row] = results["models"]
        self.assertEqual(row["model"], "fmnist_cnn")
        return row

    def test_fp32_and_ort_int8_are_measured(self):
        row = self.row(self.json1)
        [r] = row["results"]
        self.assertEqual(r["threads"], 1)
        for engine in ("leip", "ort", "ort_int8"):
            self.assertGreater(r[engine]["median_ms"], 0, engine)
            self.assertEqual(r[engine]["iterations"], 2, engine)
        self.assertAlmostEqual(r["ort_int8_vs_ort"], r["ort_int8"]["median_ms"] / r["ort"]["median_ms"])

    def test_leip_int8_is_measured_or_unavailable_with_a_reason(self):
        row = self.row(self.json1)
        [r] = row["results"]
        info = row["int8"]
        if "leip_int8" in r:
            self.assertGreater(r["leip_int8"]["median_ms"], 0)
            self.assertAlmostEqual(r["leip_int8_vs_ort"], r["leip_int8"]["median_ms"] / r["ort"]["median_ms"])
            self.assertAlmostEqual(info["size_ratio"], info["library_bytes"] / row["library_bytes"])
        else:
            self.assertTrue(info["leip_error"].startswith("leip compile --data_type int8: "), info["leip_error"])
            self.assertGreater(len(info["leip_error"]), len("leip compile --data_type int8: "))
            self.assertNotIn("leip_int8_vs_ort", r)

    def test_default_settings_store_symmetric_int8(self):
        # symmetricpc + int8: weights per output channel with zero point 0, activations per
        # tensor with zero point 0 (docs/quantization.md), int32 biases.
        storage = self.row(self.json1)["int8"]["storage"]
        self.assertEqual(storage["weight"], ["i8 zp 0 per channel"])
        self.assertEqual(storage["activation"], ["i8 zp 0 per tensor"])
        self.assertEqual(storage["bias"], ["i32 zp 0 per channel"])

    def test_ort_graph_accounts_for_every_conv_and_gemm(self):
        # Each Conv / Gemm of the QDQ model runs in ORT as an integer kernel or a float one
        # (FusedConv, FusedGemm): the counts the report shows must add up to the model's.
        import onnx
        info = self.row(self.json1)["int8"]
        graph = info["ort_graph"]
        self.assertNotIn("error", graph)
        ops = [n.op_type for n in onnx.load(info["qdq_model"]).graph.node]
        self.assertEqual(sum(graph["integer"].values()) + sum(graph["float"].values()),
                         ops.count("Conv") + ops.count("Gemm"))

    def test_markdown_has_the_int8_table(self):
        with open(os.path.join(self.work, "performance.md")) as f:
            text = f.read()
        self.assertIn("## int8", text)
        self.assertIn("leip int8 / ORT fp32 (target <= 0.5)", text)
        int8_rows = [line for line in text.splitlines() if line.startswith("| fmnist_cnn | 1 |")]
        self.assertEqual(len(int8_rows), 1, text)
        self.assertIn("--quantizer symmetricpc --data_type int8", text)

    def test_second_run_reuses_compress_and_compile(self):
        first, second = self.row(self.json1), self.row(self.json2)
        self.assertFalse(first["int8"]["compress_reused"])
        self.assertTrue(second["int8"]["compress_reused"])
        self.assertTrue(second["compile_reused"])
        if "artifact" in first["int8"]:
            self.assertTrue(second["int8"]["compile_reused"])
        self.assertEqual(first["int8"]["compress_seconds"], second["int8"]["compress_seconds"])
        self.assertIn("(reused, compress", self.second.stdout)

    def test_other_settings_compress_again_into_their_own_folder(self):
        _, results = benchmark(self.work, "--calibration", "minmax", "--no_write")
        info = self.row(results)["int8"]
        self.assertFalse(info["compress_reused"])
        self.assertIn("symmetricpc-int8-minmax", info["qdq_model"])
        self.assertNotEqual(info["qdq_model"], self.row(self.json1)["int8"]["qdq_model"])


if __name__ == "__main__":
    unittest.main()
