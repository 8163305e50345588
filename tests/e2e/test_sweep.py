"""`leip recipes sweep`: a grid of two configurations (float32, and symmetricpc/minmax int8) on
the example CNN with small data sets (64 calibration images, 200 test images), run in
parallel; the same grid as a Makefile run by make -j2; the tables, the Pareto front and
best.json checked against each configuration's own results.json; a grid with a bad value
rejected before any run; no configuration within the tolerance: exit code 4.
"""

import csv
import json
import os
import shutil
import subprocess
import unittest

import e2e_common as e2e
import test_int8

EXIT_THRESHOLD = 4
GRID = ("--data_types", "float32,int8", "--quantizers", "symmetricpc", "--calibrations", "minmax")
NAMES = {"float32", "symmetricpc-minmax-none-int8"}


def read_json(*path):
    with open(os.path.join(*path)) as f:
        return json.load(f)


def dominates(b, a):
    """b is at least as accurate, fast and small as a, and better in one."""
    no_worse = b["top1"] >= a["top1"] and b["latency_ms"] <= a["latency_ms"] and b["size_bytes"] <= a["size_bytes"]
    better = b["top1"] > a["top1"] or b["latency_ms"] < a["latency_ms"] or b["size_bytes"] < a["size_bytes"]
    return no_worse and better


class SweepTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("sweep")
        cls.cnn = e2e.example_model("fmnist_cnn")
        calibration, images, labels = test_int8.small_fmnist_set(cls.dir)
        cls.data = ("--input_path", cls.cnn, "--rep_dataset", calibration, "--test_path", images, "--labels", labels,
                    "--max_samples", "200")

    def sweep(self, name, *args, code=e2e.EXIT_OK):
        out = os.path.join(self.dir, name)
        shutil.rmtree(out, ignore_errors=True)
        result = e2e.leip("recipes", "sweep", *self.data, "--output_path", out, *args)
        self.assertEqual(result.rc, code, result.describe())
        return out, result

    def check_tables(self, out):
        """sweep.csv and sweep.json against each run's results.json; returns sweep.json."""
        summary = read_json(out, "sweep.json")
        rows = summary["configurations"]
        self.assertEqual({r["name"] for r in rows}, NAMES)
        with open(os.path.join(out, "sweep.csv")) as f:
            table = list(csv.DictReader(f))
        self.assertEqual([r["name"] for r in table], [r["name"] for r in rows])
        self.assertEqual([int(r["rank"]) for r in table], [1, 2])
        for row, line in zip(rows, table):
            self.assertEqual(row["status"], "ok")
            results = read_json(out, "runs", row["name"], "results.json")
            self.assertEqual(results["optimized"]["items"], 200)
            self.assertEqual(row["top1"], results["optimized"]["top1"])
            self.assertEqual(row["latency_ms"], results["optimized"]["latency_ms"]["median"])
            self.assertEqual(row["size_bytes"], results["optimized"]["size_bytes"])
            self.assertEqual(results["data_type"], row["data_type"])
            self.assertAlmostEqual(float(line["top1"]), row["top1"], places=6)
            self.assertEqual(int(line["size_bytes"]), row["size_bytes"])
            self.assertEqual(line["pareto"], "1" if row["pareto"] else "0")
            # The report of each run is there too.
            self.assertTrue(os.path.isfile(os.path.join(out, "runs", row["name"], "report.html")))
        # The Pareto front, computed here.
        for a in rows:
            self.assertEqual(a["pareto"], not any(dominates(b, a) for b in rows if b is not a), a["name"])
        fp32 = next(r for r in rows if r["name"] == "float32")
        self.assertEqual(summary["fp32_top1"], fp32["top1"])
        # best: the fastest within the tolerance.
        eligible = [r for r in rows if r["top1"] >= fp32["top1"] - summary["tolerance"]]
        self.assertEqual(summary["best"], min(eligible, key=lambda r: r["latency_ms"])["name"])
        self.assertEqual(rows[0]["name"], summary["best"])
        return summary

    def test_sweep_runs_ranks_and_writes_the_best_recipe(self):
        out, result = self.sweep("grid", *GRID, "--jobs", "2")
        self.assertIn("sweep: 2 configurations, 2 at a time", result.stdout)
        self.assertIn("[2/2]", result.stdout)
        summary = self.check_tables(out)
        self.assertEqual(sorted(os.listdir(os.path.join(out, "recipes"))), sorted(n + ".json" for n in NAMES))
        # best.json is the best configuration's recipe, with the tolerance as a threshold:
        # leip optimize takes it as it is.
        best = read_json(out, "best.json")
        self.assertEqual(best["evaluate"]["thresholds"]["max_top1_drop"], summary["tolerance"])
        self.assertIn(f"Chosen by leip recipes sweep from 2 configurations: {summary['best']}", best["description"])
        again = os.path.join(self.dir, "best_again")
        result = e2e.leip("optimize", "--recipe", os.path.join(out, "best.json"), "--output_path", again)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        rows = {r["name"]: r for r in summary["configurations"]}
        self.assertEqual(read_json(again, "results.json")["optimized"]["top1"], rows[summary["best"]]["top1"])

        # A configuration that failed: a row with its error line, ranked last.
        shutil.rmtree(os.path.join(out, "runs", "symmetricpc-minmax-none-int8"))
        with open(os.path.join(out, "runs", "symmetricpc-minmax-none-int8.log"), "w") as f:
            f.write("optimizing ...\nleip: error: something broke\n")
        result = e2e.leip("recipes", "sweep", "--collect", out)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        rows = read_json(out, "sweep.json")["configurations"]
        self.assertEqual([(r["name"], r["status"]) for r in rows],
                         [("float32", "ok"), ("symmetricpc-minmax-none-int8", "failed: leip: error: something broke")])
        self.assertEqual(read_json(out, "best.json")["compile"]["data_type"], "float32")

        # Nothing within the tolerance (a plan edited to ask for more than 100 %): exit 4,
        # the tables written, no best.json.
        plan = read_json(out, "sweep_plan.json")
        plan["tolerance"] = -100
        with open(os.path.join(out, "sweep_plan.json"), "w") as f:
            json.dump(plan, f)
        result = e2e.leip("recipes", "sweep", "--collect", out)
        self.assertEqual(result.rc, EXIT_THRESHOLD, result.describe())
        self.assertRegex(result.stderr, r"^leip: error: no configuration is within -100\S* top-1 points of the fp32")
        self.assertFalse(os.path.exists(os.path.join(out, "best.json")))
        self.assertFalse(any(r["within_tolerance"] for r in read_json(out, "sweep.json")["configurations"]))

    def test_makefile_spreads_the_runs_and_collects_them(self):
        out, result = self.sweep("make", *GRID, "--makefile")
        self.assertIn(f"wrote {out}/Makefile: 2 configurations", result.stdout)
        self.assertEqual(os.listdir(os.path.join(out, "runs")), [], "--makefile runs nothing")
        self.assertFalse(os.path.exists(os.path.join(out, "sweep.csv")))
        # One configuration alone, as a CI matrix job would run it.
        target = "runs/float32/results.json"
        done = subprocess.run(["make", "-C", out, f"LEIP={e2e.leip_bin()}", target], capture_output=True, text=True,
                              timeout=e2e.scaled(300))
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertTrue(os.path.isfile(os.path.join(out, target)))
        self.assertFalse(os.path.exists(os.path.join(out, "runs", "symmetricpc-minmax-none-int8")))
        # Then everything: the other configuration and the table.
        done = subprocess.run(["make", "-C", out, "-j2", f"LEIP={e2e.leip_bin()}"], capture_output=True, text=True,
                              timeout=e2e.scaled(300))
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("recipes sweep --collect .", done.stdout)
        self.assertNotIn("optimize --recipe recipes/float32.json", done.stdout, "make reran a finished target")
        self.check_tables(out)
        self.assertTrue(os.path.isfile(os.path.join(out, "best.json")))

    def test_optimization_sets_in_the_grid(self):
        out, _ = self.sweep("optimizations", "--quantizers", "symmetric", "--calibrations", "minmax",
                            "--optimizations", "none,cross_layer_equalization+bias_correction", "--makefile")
        name = "symmetric-minmax-cross_layer_equalization+bias_correction-int8"
        self.assertEqual(sorted(os.listdir(os.path.join(out, "recipes"))),
                         sorted([name + ".json", "symmetric-minmax-none-int8.json"]))
        recipe = read_json(out, "recipes", name + ".json")
        self.assertEqual(recipe["compress"]["optimization"], ["cross_layer_equalization", "bias_correction"])
        self.assertEqual(recipe["compress"]["quantizer"], "symmetric")
        self.assertNotIn("optimization", read_json(out, "recipes", "symmetric-minmax-none-int8.json")["compress"])
        with open(os.path.join(out, "Makefile")) as f:
            self.assertIn(f"runs/{name}/results.json: recipes/{name}.json\n", f.read())

    def test_bad_grid_fails_before_any_run(self):
        out, result = self.sweep("bad", "--calibrations", "minmax,foo", code=e2e.EXIT_BAD_INPUT)
        self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
        self.assertIn("configuration symmetricpc-foo-none-int8: compress.calibration: unknown calibration method "
                      "'foo'", result.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "runs")) and os.listdir(os.path.join(out, "runs")))
        out, result = self.sweep("bad_type", "--data_types", "int4", code=e2e.EXIT_USAGE)
        self.assertIn("--data_types: unknown data type 'int4'", result.stderr)
        result = e2e.leip("recipes", "sweep", "--input_path", self.cnn)
        self.assertEqual(result.rc, e2e.EXIT_USAGE, result.describe())
        self.assertIn("give --output_path", result.stderr)


if __name__ == "__main__":
    unittest.main()
