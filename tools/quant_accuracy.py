#!/usr/bin/python3
"""Top-1 accuracy of the quantized Fashion-MNIST example models: the table of
docs/quantization.md.

For each example model, quantizer, calibration method and set of optimizations:

  1. `leip compress` on the first --calibration_samples images of the Fashion-MNIST
     *training* set (so calibration never sees the test images);
  2. top-1 of the QDQ model.onnx on the 10,000 test images, run by ONNX Runtime with graph
     optimizations off (tools/ort_accuracy.js), which executes QuantizeLinear ->
     DequantizeLinear exactly as leip's reference interpreter does (`leip evaluate` on the
     same model gives the same count; tests/e2e/test_compress.py checks both) and is 10x
     faster than the interpreter at batch 1;
  3. the whole-model output SQNR from DIR/compress_report.json.

    /usr/bin/python3 tools/quant_accuracy.py                 # the full tables (about 15 minutes)
    /usr/bin/python3 tools/quant_accuracy.py --models mobilenetv2 --quantizers symmetric \\
        --calibrations minmax --no_write

Writes the tables between the markers in docs/quantization.md and every number to
BUILD/quant_accuracy.json.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import fmnist  # noqa: E402

import numpy as np  # noqa: E402

MODELS = ("cnn", "mobilenetv2", "resnet")
QUANTIZERS = ("symmetric", "symmetricpc", "asymmetric")
CALIBRATIONS = ("minmax", "average", "percentile", "entropy", "mse")
# The optimization sets of the second table (calibration: minmax).
OPTIMIZATIONS = ("", "bias_correction", "cross_layer_equalization", "cross_layer_equalization,bias_correction",
                 "tensor_splitting")
BEGIN, END = "<!-- quant-accuracy:begin -->", "<!-- quant-accuracy:end -->"


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"quant_accuracy: {' '.join(cmd[:4])} ... failed (exit {result.returncode}):\n"
                 f"{result.stderr[-2000:]}")
    return result.stdout


def ort_top1(model, images, labels, batch):
    out = run(["node", os.path.join(ROOT, "tools", "ort_accuracy.js"), f"--batch={batch}", "--opt_level=disabled",
               model, images, labels])
    return json.loads(out.strip().splitlines()[-1])


class Runner:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.leip = args.leip or os.path.join(args.build_dir, "src", "cli", "leip")
        train, test = os.path.join(work, "train"), os.path.join(work, "test")
        for split, folder, count in (("train", train, args.calibration_samples), ("test", test, 10000)):
            os.makedirs(folder, exist_ok=True)
            images, labels = fmnist.load(split, count)
            np.save(os.path.join(folder, "images.npy"), images)
            np.save(os.path.join(folder, "labels.npy"), labels)
        self.calibration = os.path.join(train, "images.npy")
        self.test_images, self.test_labels = os.path.join(test, "images.npy"), os.path.join(test, "labels.npy")
        self.count = 0

    def float_top1(self, model):
        return ort_top1(os.path.join(ROOT, "models", f"fmnist_{model}.onnx"), self.test_images, self.test_labels,
                        100)["top1"] * 100

    def quantized(self, model, quantizer, calibration, optimizations, bits=8):
        self.count += 1
        out = os.path.join(self.work, f"q{self.count}")
        cmd = [self.leip, "compress", "--input_path", os.path.join(ROOT, "models", f"fmnist_{model}.onnx"),
               "--output_path", out, "--rep_dataset", self.calibration, "--quantizer", quantizer,
               "--calibration", calibration, "--bits", str(bits)]
        if optimizations:
            cmd += ["--optimization", optimizations]
        run(cmd)
        with open(os.path.join(out, "compress_report.json")) as f:
            report = json.load(f)
        top1 = ort_top1(os.path.join(out, "model.onnx"), self.test_images, self.test_labels, 1)["top1"] * 100
        sqnr = report["output_sqnr_db"][0]["sqnr_db"]
        print(f"  {model:12s} {quantizer:12s} {bits}-bit {calibration:10s} {optimizations or '-':45s} top-1 {top1:6.2f} "
              f"SQNR {sqnr:5.1f} dB", flush=True)
        return {"top1": top1, "output_sqnr_db": sqnr}


def tables(results, fp32, args):
    lines = []
    lines.append("Top-1 (%) of int8 models on the 10,000 Fashion-MNIST test images, no optimizations; "
                 "in brackets the drop from fp32.\n")
    header = "| model | fp32 | quantizer | " + " | ".join(args.calibrations) + " |"
    lines += [header, "|" + "---|" * 3 + "---:|" * len(args.calibrations)]
    for model in args.models:
        for quantizer in args.quantizers:
            cells = []
            for calibration in args.calibrations:
                r = results.get(f"{model}/{quantizer}/{calibration}/")
                cells.append(f"{r['top1']:.2f} ({r['top1'] - fp32[model]:+.2f})" if r else "")
            lines.append(f"| {model} | {fp32[model]:.2f} | {quantizer} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Optimizations (minmax calibration, 8-bit weights): top-1 (%) and, in brackets, the whole-model "
                 "output SQNR (dB).\n")
    names = [o or "none" for o in args.optimizations]
    for bits, quantizers in ((8, args.quantizers), (4, args.quantizers_4bit)):
        if bits == 4:
            lines += ["", "The same with 4-bit weights (activations stay 8-bit), where the optimizations matter more.\n"]
        lines += ["| model | fp32 | quantizer | " + " | ".join(n.replace(",", ", ") for n in names) + " |",
                  "|" + "---|" * 3 + "---:|" * len(names)]
        for model in args.models:
            for quantizer in quantizers:
                cells = []
                for opt in args.optimizations:
                    r = results.get(f"{model}/{quantizer}/minmax/{opt}/{bits}")
                    cells.append(f"{r['top1']:.2f} ({r['output_sqnr_db']:.1f})" if r else "")
                lines.append(f"| {model} | {fp32[model]:.2f} | {quantizer} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--quantizers", nargs="+", default=list(QUANTIZERS))
    parser.add_argument("--calibrations", nargs="+", default=list(CALIBRATIONS))
    parser.add_argument("--optimizations", nargs="+", default=list(OPTIMIZATIONS),
                        help="optimization sets of the second table ('' for none)")
    parser.add_argument("--quantizers_4bit", nargs="*", default=["symmetric", "symmetricpc"],
                        help="quantizers of the 4-bit-weight table")
    parser.add_argument("--calibration_samples", type=int, default=500)
    parser.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--leip", default=None, help="leip binary (default BUILD/src/cli/leip)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "quantization.md"))
    parser.add_argument("--no_write", action="store_true", help="print the tables only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="leip-quant-accuracy-") as work:
        runner = Runner(args, work)
        fp32 = {m: runner.float_top1(m) for m in args.models}
        results = {}
        for model in args.models:
            print(f"{model}: fp32 top-1 {fp32[model]:.2f}", flush=True)
            for quantizer in args.quantizers:
                for calibration in args.calibrations:
                    results[f"{model}/{quantizer}/{calibration}/"] = runner.quantized(model, quantizer, calibration, "")
                for opt in args.optimizations:
                    same = results.get(f"{model}/{quantizer}/minmax/") if not opt else None
                    results[f"{model}/{quantizer}/minmax/{opt}/8"] = same or runner.quantized(
                        model, quantizer, "minmax", opt)
            for quantizer in args.quantizers_4bit:
                for opt in args.optimizations:
                    results[f"{model}/{quantizer}/minmax/{opt}/4"] = runner.quantized(model, quantizer, "minmax", opt, 4)
    text = tables(results, fp32, args)
    print("\n" + text)
    with open(os.path.join(args.build_dir, "quant_accuracy.json"), "w") as f:
        json.dump({"fp32": fp32, "results": results, "calibration_samples": args.calibration_samples}, f, indent=2)
    if args.no_write:
        return
    with open(args.output) as f:
        doc = f.read()
    stamp = (f"Measured {datetime.date.today().isoformat()} with `/usr/bin/python3 tools/quant_accuracy.py` "
             f"(calibration: the first {args.calibration_samples} training images; int8 storage).\n\n")
    block = f"{BEGIN}\n{stamp}{text}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip() + "\n\n## Accuracy\n\n" + block + "\n"
    with open(args.output, "w") as f:
        f.write(doc)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
