"""`leip optimize --recipe` and `leip recipes`: each golden x86_64 recipe end to end on the
example CNN (with its report.html, parsed and, when /usr/bin/chromium exists, rendered), a cross-compiled aarch64 recipe, threshold failures (exit code 4), bad recipes
(exit code 2 naming the key path), overrides by flags and --set, and how a recipe is found
by name or by path.

Data: the small Fashion-MNIST set of test_int8.py (64 training images to calibrate on, the
first 1000 test images to evaluate on). Expectations come from outside `optimize`: the
labels, `leip evaluate` run on the directory optimize wrote and on the float model, and the
recipe files themselves.
"""

import html.parser
import json
import os
import platform
import shutil
import subprocess
import tempfile
import unittest

import e2e_common as e2e
import test_int8

EXIT_THRESHOLD = 4  # a recipe's threshold failed (include/leip/support/Error.h)
GOLDEN = ("x86_64-fp32", "x86_64-int8", "x86_64-mixed", "aarch64-fp32", "aarch64-int8", "cuda-fp32")
ARTIFACT_FILES = {"modelLibrary.so", "model_schema.json", "recipe.json", "results.json", "report.html"}
CHROMIUM = "/usr/bin/chromium"


def read_json(*path):
    with open(os.path.join(*path)) as f:
        return json.load(f)


class ReportParser(html.parser.HTMLParser):
    """Checks that report.html nests its tags properly and collects its text, the tags
    seen, and the SVG bars (rect elements of class "bar") with their data-layer names."""

    VOID = {"meta", "br", "hr", "img", "link", "input", "line", "rect", "path", "circle"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.text, self.tags, self.bars, self.errors = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "rect" and "bar" in attrs.get("class", "").split():
            self.bars.append(attrs.get("data-layer"))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "rect" and "bar" in dict(attrs).get("class", "").split():
            self.bars.append(dict(attrs).get("data-layer"))

    def handle_endtag(self, tag):
        if tag in self.VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_report(path):
    parser = ReportParser()
    with open(path, encoding="utf-8") as f:
        parser.feed(f.read())
    parser.close()
    return parser


def check_report(test, out):
    """report.html in `out`: well formed, no external resources, the numbers of results.json
    as optimize prints them, one SVG bar per layer of the compress report."""
    results = read_json(out, "results.json")
    page = parse_report(os.path.join(out, "report.html"))
    test.assertEqual(page.errors, [])
    test.assertEqual(page.stack, [], "unclosed tags")
    for tag, attrs in page.tags:
        test.assertNotEqual(tag, "script", "report.html runs no scripts")
        for name in ("src", "href"):
            test.assertFalse(attrs.get(name, "").startswith(("http:", "https:", "//")), (tag, attrs))
    text = " ".join(page.text)
    fp32, optimized = results["fp32"], results["optimized"]
    expected = [results["recipe"], results["model"], f"{results['ratios']['size']:.2f}x",
                str(fp32["size_bytes"]), str(optimized["size_bytes"])]
    for side in (fp32, optimized):
        if side["top1"] is not None:
            expected.append(f"{side['top1']:.2f}")
        if side["latency_ms"] is not None:
            expected.append(f"{side['latency_ms']['median']:.3f}")
    if results["ratios"]["latency"] is not None:
        expected.append(f"{results['ratios']['latency']:.2f}x")
    for t in results["thresholds"]:
        expected += [t["name"], f"{t['limit']:.3f}"]
        if t["value"] is not None:
            expected.append(f"{t['value']:.3f}")
    expected.append("FAILED" if not results["passed"] else "PASSED" if any(
        t["passed"] is not None for t in results["thresholds"]) else "no threshold checked")
    for value in expected:
        test.assertIn(value, text)
    if results["compress"] is None:
        test.assertEqual(page.bars, [])
        test.assertNotIn("svg", [tag for tag, _ in page.tags])
    else:
        layers = read_json(out, "compress", "compress_report.json")["layers"]
        test.assertGreater(len(layers), 0)
        test.assertEqual(page.bars, [layer["node"] for layer in layers])
        for layer in layers:
            test.assertIn(f"{layer['sqnr_db']:.1f}", text)
    return page


class OptimizeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("optimize")
        cls.cnn = e2e.example_model("fmnist_cnn")
        cls.calibration, cls.images, cls.labels = test_int8.small_fmnist_set(cls.dir)
        cls.test_set = ("--test_path", cls.images, "--labels", cls.labels)
        cls.data = ("--rep_dataset", cls.calibration, *cls.test_set)

    def optimize(self, recipe, name, *args, code=e2e.EXIT_OK, model=None):
        """Runs leip optimize into a fresh folder; checks the exit code and returns (folder, result)."""
        out = os.path.join(self.dir, name)
        shutil.rmtree(out, ignore_errors=True)
        result = e2e.leip("optimize", "--recipe", recipe, "--input_path", model or self.cnn, "--output_path", out,
                          *args)
        self.assertEqual(result.rc, code, result.describe())
        return out, result

    def assert_no_output(self, out):
        parent, name = os.path.split(out)
        self.assertFalse(os.path.exists(out), f"{out} was written")
        self.assertEqual([f for f in os.listdir(parent) if f.startswith(name + ".partial-")], [],
                         "a temporary folder is left")

    def evaluate(self, model, *args):
        result = e2e.leip("evaluate", "--input_path", model, "--test_path", self.images, "--labels", self.labels,
                          "--output_path", os.path.join(self.dir, "evaluate"), "--json", *args)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        return json.loads(result.stdout)

    def test_golden_x86_64_recipes(self):
        fp32_top1 = self.evaluate(self.cnn)["top1"]  # the float model, interpreted
        expected = {"x86_64-fp32": "float32", "x86_64-int8": "int8", "x86_64-mixed": "mixed"}
        for recipe, data_type in expected.items():
            with self.subTest(recipe=recipe):
                out, result = self.optimize(recipe, recipe, *self.data)
                quantizes = data_type != "float32"
                files = set(os.listdir(out))
                self.assertEqual(files, ARTIFACT_FILES | {"evaluation"} | ({"compress"} if quantizes else set()))
                if quantizes:
                    self.assertEqual(sorted(os.listdir(os.path.join(out, "compress"))),
                                     ["compress_report.json", "model.onnx", "quant_params.json"])
                results = read_json(out, "results.json")
                self.assertEqual(results["recipe"], recipe)
                self.assertEqual(results["data_type"], data_type)
                self.assertTrue(results["passed"])
                self.assertTrue(results["measured_here"])
                fp32, optimized = results["fp32"], results["optimized"]
                for side in (fp32, optimized):
                    self.assertEqual(side["items"], 1000)
                    self.assertEqual(side["engine"], "compiled")
                    self.assertGreater(side["latency_ms"]["median"], 0)
                # The fp32 side is the float model compiled: it scores what the interpreter does.
                self.assertAlmostEqual(fp32["top1"], fp32_top1, places=6)
                # The output folder is an artifact directory leip evaluate takes as it is.
                self.assertAlmostEqual(optimized["top1"], self.evaluate(out)["top1"], places=6)
                self.assertAlmostEqual(results["top1_drop"], fp32["top1"] - optimized["top1"], places=6)
                self.assertLessEqual(results["top1_drop"], 1.0)
                self.assertAlmostEqual(results["ratios"]["size"], optimized["size_bytes"] / fp32["size_bytes"])
                self.assertEqual(optimized["size_bytes"], os.path.getsize(os.path.join(out, "modelLibrary.so")))
                if quantizes:
                    self.assertLess(results["ratios"]["size"], 0.5)
                    report = read_json(out, "compress", "compress_report.json")
                    self.assertEqual(report["output"], os.path.join(out, "compress", "model.onnx"))
                    self.assertEqual(results["compress"]["calibration_samples"], 64)
                    self.assertEqual([t["name"] for t in results["thresholds"]], ["max_top1_drop"])
                    self.assertTrue(results["thresholds"][0]["passed"])
                else:
                    self.assertEqual(results["ratios"]["size"], 1.0)
                    self.assertIsNone(results["compress"])
                check_report(self, out)
                # Nothing names the temporary folder the output was written in.
                for name in ("results.json", "model_schema.json", "recipe.json", "report.html"):
                    with open(os.path.join(out, name)) as f:
                        self.assertNotIn(".partial-", f.read(), name)
                # recipe.json is the golden recipe with the command line's settings and the defaults.
                effective = read_json(out, "recipe.json")
                golden = json.loads(e2e.leip("recipes", "show", recipe).stdout)
                self.assertEqual(effective["description"], golden["description"])
                self.assertEqual(effective["compile"]["data_type"], golden["compile"]["data_type"])
                self.assertEqual(effective["model"]["input_path"], self.cnn)
                self.assertEqual(effective["evaluate"]["test_path"], self.images)
                self.assertEqual("compress" in effective, quantizes)
                self.assertIn(f"optimizing {self.cnn} with recipe {recipe}\n", result.stdout)

    def test_cross_compiled_recipe_is_evaluated_by_the_interpreter(self):
        out, result = self.optimize("aarch64-int8", "aarch64-int8", *self.data, "--max_samples", "200")
        results = read_json(out, "results.json")
        schema = read_json(out, "model_schema.json")
        self.assertEqual(schema["target"]["arch"], "aarch64")
        self.assertEqual(results["data_type"], "int8")
        if platform.machine() == "aarch64":
            self.assertTrue(results["measured_here"])
            return
        self.assertFalse(results["measured_here"])
        self.assertIn("compiled for aarch64, this machine is x86_64", results["not_measured_because"])
        for side in ("fp32", "optimized"):
            self.assertEqual(results[side]["engine"], "interpreter")
            self.assertEqual(results[side]["items"], 200)
            self.assertIsNone(results[side]["latency_ms"])
        # The optimized accuracy is the compress output's, simulated by the interpreter.
        simulated = self.evaluate(os.path.join(out, "compress"), "--max_samples", "200")
        self.assertAlmostEqual(results["optimized"]["top1"], simulated["top1"], places=6)
        self.assertIn("no latency: compiled for aarch64", result.stdout)

    def test_failed_thresholds_exit_4_with_one_line_naming_them(self):
        out, result = self.optimize("x86_64-fp32", "thresholds", *self.test_set,
                                    "--set", "evaluate.thresholds.min_top1=99.5",
                                    "--set", "evaluate.thresholds.max_latency_ms=1e-6", code=EXIT_THRESHOLD)
        top1 = read_json(out, "results.json")["optimized"]["top1"]
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertRegex(lines[0], rf"^leip: error: threshold failed: top-1 is {top1:.2f} %, below min_top1 99\.50; "
                                   r"median latency is [0-9.]+ ms, above max_latency_ms 0\.000 \(")
        # The output is written all the same, for the CI log to show.
        check_report(self, out)
        results = read_json(out, "results.json")
        self.assertFalse(results["passed"])
        self.assertEqual([(t["name"], t["passed"]) for t in results["thresholds"]],
                         [("min_top1", False), ("max_latency_ms", False)])

    def test_report_escapes_text_and_renders_in_chromium(self):
        # A model path with HTML in it comes out as text, not markup.
        model = os.path.join(self.dir, "a<b>&'c\".onnx")
        shutil.copy(self.cnn, model)
        out, result = self.optimize("x86_64-int8", "report", *self.data, "--max_samples", "100", model=model)
        self.assertIn(f"report {out}/report.html", result.stdout)
        page = check_report(self, out)
        self.assertNotIn("b", [tag for tag, _ in page.tags])
        with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
            raw = f.read()
        self.assertIn("a&lt;b&gt;&amp;&#39;c&quot;.onnx", raw)
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest(f"{CHROMIUM} is absent: the page is checked by html.parser only; install Debian's "
                          f"chromium (LEIP_INSTALL_CHROMIUM=1 bash tools/install-deps.sh) to render it")
        with tempfile.TemporaryDirectory(dir=self.dir) as profile:
            png = os.path.join(self.dir, "report.png")
            command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                       "--disable-background-networking", "--disable-component-update", "--disable-sync",
                       f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1200,900",
                       "file://" + os.path.join(out, "report.html").replace("%", "%25").replace("#", "%23")
                       .replace("?", "%3F")]
            done = subprocess.run(command, capture_output=True, text=True, timeout=e2e.scaled(120))
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        self.assertTrue(os.path.isfile(png), done.stderr[-2000:])
        # Not blank: the page's colours are there (PIL comes with python3-torchvision): the
        # white background, dark text, and the blue of the SQNR bars.
        from PIL import Image
        with Image.open(png) as image:
            self.assertEqual(image.size, (1200, 900))
            colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        self.assertGreater(len(colours), 16, "the screenshot is blank")
        rgb = {c for _, c in colours}
        self.assertIn((255, 255, 255), rgb)
        self.assertTrue(any(max(c) < 80 for c in rgb), "no dark text")
        self.assertIn((0x4a, 0x78, 0xc2), rgb, "no SQNR bar")

    def test_thresholds_without_a_test_set_are_not_checked(self):
        out, result = self.optimize("x86_64-int8", "no_test_set", "--rep_dataset", self.calibration)
        results = read_json(out, "results.json")
        self.assertTrue(results["passed"])
        self.assertIsNone(results["optimized"]["top1"])
        self.assertEqual(results["thresholds"][0]["passed"], None)
        self.assertIn("not checked: no test set", results["thresholds"][0]["note"])
        self.assertFalse(os.path.exists(os.path.join(out, "evaluation")))

    def test_set_and_flags_override_the_recipe(self):
        out, _ = self.optimize("x86_64-int8", "overrides", *self.data, "--set", "compress.calibration=entropy",
                               "--bits", "7", "--set", "evaluate.thresholds.max_top1_drop=5", "--max_samples", "100")
        effective = read_json(out, "recipe.json")
        self.assertEqual(effective["compress"]["calibration"], "entropy")
        self.assertEqual(effective["compress"]["bits"], 7)
        self.assertEqual(effective["compress"]["max_samples"], 100)
        self.assertEqual(effective["evaluate"]["max_samples"], 100)
        self.assertEqual(effective["evaluate"]["thresholds"]["max_top1_drop"], 5)
        report = read_json(out, "compress", "compress_report.json")
        self.assertEqual((report["calibration"], report["bits"], report["calibration_samples"]), ("entropy", 7, 64))
        results = read_json(out, "results.json")
        self.assertEqual(results["optimized"]["items"], 100)
        self.assertEqual(results["thresholds"][0]["limit"], 5)
        # The effective recipe reproduces the run: optimize takes it as a recipe file.
        again, _ = self.optimize(os.path.join(out, "recipe.json"), "overrides_again")
        self.assertEqual(read_json(again, "results.json")["optimized"]["top1"], results["optimized"]["top1"])

    def test_bad_recipes_exit_2_naming_the_key_path(self):
        cases = {
            '{"compress": {"calibration": "foo"}}': "compress.calibration: unknown calibration method 'foo'; "
                                                     "expected one of minmax, average, percentile, entropy, mse",
            '{"compile": {"threads": "2"}}': 'compile.threads: expected an integer, got "2"',
            '{"evaluate": {"thresholds": {"max_drop": 1}}}':
                "evaluate.thresholds.max_drop: unknown key; expected one of max_top1_drop, min_top1, max_latency_ms",
            '{"compress": {"bits": 8,}}': "not valid JSON: parse error at line 1",
        }
        for i, (text, message) in enumerate(cases.items()):
            with self.subTest(recipe=text):
                path = os.path.join(self.dir, f"bad{i}.json")
                with open(path, "w") as f:
                    f.write(text)
                out, result = self.optimize(path, f"bad{i}", *self.data, code=e2e.EXIT_BAD_INPUT)
                self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
                self.assertTrue(result.stderr.startswith(f"leip: error: recipe {path}: {message}"), result.stderr)
                self.assert_no_output(out)

    def test_bad_overrides_and_missing_settings_are_usage_errors(self):
        cases = [
            (("--set", "compress.calibration=foo"), "--set compress.calibration: unknown calibration method 'foo'"),
            (("--set", "compile.nope=1"), "--set compile.nope: unknown key; expected one of target, data_type"),
            (("--threads", "0"), "--threads: expected an integer in 1..256, got 0"),
            ((), "quantizes the model: give --rep_dataset"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                extra = () if not args else ("--rep_dataset", self.calibration)
                out, result = self.optimize("x86_64-int8", "bad_override", *extra, *args, code=e2e.EXIT_USAGE)
                self.assertIn(message, result.stderr)
                self.assert_no_output(out)

    def test_bad_data_leaves_no_output(self):
        # Labels as calibration data: compress fails after the recipe was accepted.
        out, result = self.optimize("x86_64-int8", "bad_data", "--rep_dataset", self.labels, code=e2e.EXIT_BAD_INPUT)
        self.assertIn(self.labels, result.stderr)
        self.assert_no_output(out)

    def test_recipe_by_path_and_by_name(self):
        # A recipe file of one's own: its relative paths are relative to its folder.
        folder = os.path.join(self.dir, "my_recipes")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(self.cnn, os.path.join(self.dir, "cnn.onnx"))
        with open(os.path.join(folder, "mine.json"), "w") as f:
            json.dump({"description": "mine", "model": {"input_path": "../cnn.onnx"},
                       "compile": {"data_type": "float32"}}, f)
        out = os.path.join(self.dir, "by_path")
        result = e2e.leip("optimize", "--recipe", os.path.join(folder, "mine.json"), "--output_path", out)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertEqual(read_json(out, "recipe.json")["model"]["input_path"], os.path.join(self.dir, "cnn.onnx"))
        # By name, from LEIP_RECIPES_DIR.
        os.environ["LEIP_RECIPES_DIR"] = folder
        try:
            listed = e2e.leip("recipes", "list")
            out = os.path.join(self.dir, "by_name")
            by_name = e2e.leip("optimize", "--recipe", "mine", "--output_path", out)
            missing = e2e.leip("optimize", "--recipe", "x86_64-int8", "--output_path", out)
        finally:
            del os.environ["LEIP_RECIPES_DIR"]
        self.assertEqual(listed.stdout, "mine             mine\n")
        self.assertEqual(by_name.rc, e2e.EXIT_OK, by_name.describe())
        self.assertEqual(read_json(out, "results.json")["recipe"], "mine")
        self.assertEqual(missing.rc, e2e.EXIT_BAD_INPUT, missing.describe())
        self.assertIn(f"no x86_64-int8.json in {folder}", missing.stderr)

    def test_recipes_list_and_show(self):
        listed = e2e.leip("recipes", "list")
        self.assertEqual(listed.rc, e2e.EXIT_OK, listed.describe())
        names = [line.split()[0] for line in listed.stdout.splitlines()]
        self.assertEqual(names, sorted(GOLDEN))
        for line in listed.stdout.splitlines():
            self.assertGreater(len(line.split(None, 1)[1]), 40, line)  # a description, not a placeholder
        for name in GOLDEN:
            shown = e2e.leip("recipes", "show", name)
            self.assertEqual(shown.rc, e2e.EXIT_OK, shown.describe())
            with open(os.path.join(e2e.source_dir(), "recipes", name + ".json")) as f:
                self.assertEqual(shown.stdout, f.read())
        missing = e2e.leip("recipes", "show", "x86_64-int4")
        self.assertEqual(missing.rc, e2e.EXIT_BAD_INPUT, missing.describe())


if __name__ == "__main__":
    unittest.main()
