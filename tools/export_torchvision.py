#!/usr/bin/env python3
"""Exports torchvision resnet18 and mobilenet_v2 to ONNX, with random weights.

No pretrained weights can be downloaded where leip is developed, and leip's compile and
benchmark work on large models needs correct shapes and realistic op mixes, not trained
accuracy. So the weights are random but reproducible (torch.manual_seed(0) before building
each model, `weights=None`).

BatchNorm statistics: with torchvision's initialization (running mean 0, variance 1) the
random mobilenet_v2's output is about 3e-9 for a N(0,1) input -- activations vanish through
its 17 blocks, which would make output comparisons meaningless. So by default
(--bn_stats=calibrate) each BatchNorm's running mean/variance are re-estimated from two
batches of 8 seeded N(0,1) images (cumulative average, train-mode forward, no weight update)
before the eval-mode export; outputs are then O(0.1..1) (mobilenet_v2 max |y| ~0.47,
resnet18 ~1.6). --bn_stats=init keeps torchvision's initial statistics.

Export: eval mode, input `input` float32 [1,3,224,224], output `output` [1,1000], ONNX opset
13, default constant folding (BatchNormalization folded into Conv by the exporter).
Writes DIR/resnet18.onnx and DIR/mobilenet_v2.onnx; a file that already exists is skipped,
so re-runs are fast (--force re-exports).

--batch N (N > 1) exports the same model (same weights and statistics) with a fixed batch of
N instead, as DIR/<model>_b<N>.onnx: input [N,3,224,224], output [N,1000]. A fixed batch
dim cannot be overridden by `leip compile --input_shapes`, so batched artifacts need their
own export. Batch 1 (the default) writes exactly the files above.

    /usr/bin/python3 tools/export_torchvision.py --output_dir build/models
    /usr/bin/python3 tools/export_torchvision.py --output_dir build/models --batch 8
"""

import argparse
import os
import sys
import time

# Passive OpenMP waiting: spinning threads crawl when other processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

MODELS = ("resnet18", "mobilenet_v2")
OPSET = 13


def calibrate_bn(model, seed=1, batches=2, batch_size=8):
    """Re-estimates every BatchNorm's running statistics on seeded N(0,1) images."""
    import torch
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average over the calibration batches
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, 3, 224, 224, generator=gen))
    model.eval()


def export_one(name, path, seed=0, bn_stats="calibrate", batch=1):
    import torch
    import torchvision
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    if bn_stats == "calibrate":
        calibrate_bn(model)
    model.eval()
    dummy = torch.randn(batch, 3, 224, 224)
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, dummy, tmp, input_names=["input"], output_names=["output"],
                          opset_version=OPSET)
    import onnx
    onnx.checker.check_model(onnx.load(tmp))
    os.replace(tmp, path)


def onnx_file_name(name, batch=1):
    """The export's file name: <model>.onnx at batch 1 (unchanged for the tools that expect
    it), <model>_b<N>.onnx otherwise."""
    return f"{name}.onnx" if batch == 1 else f"{name}_b{batch}.onnx"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Export torchvision resnet18 and mobilenet_v2 (random weights, seed 0) to "
                    "ONNX opset 13: input 'input' [N,3,224,224] (N = --batch, default 1), output "
                    "'output'.")
    parser.add_argument("--output_dir", required=True, help="output directory")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated subset of {','.join(MODELS)} (default: all)")
    parser.add_argument("--force", action="store_true", help="re-export existing files")
    parser.add_argument("--bn_stats", choices=["calibrate", "init"], default="calibrate",
                        help="BatchNorm running statistics: re-estimated on random images "
                             "(calibrate, default) or torchvision's initial 0/1 (init)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--batch", type=int, default=1,
                        help="fixed batch size of the export (default 1: DIR/<model>.onnx; N > 1 "
                             "writes DIR/<model>_b<N>.onnx)")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be >= 1")

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            parser.error(f"unknown model {n!r}; choose from {', '.join(MODELS)}")
    os.makedirs(args.output_dir, exist_ok=True)
    for name in names:
        path = os.path.join(args.output_dir, onnx_file_name(name, args.batch))
        if os.path.exists(path) and not args.force:
            print(f"export_torchvision: {path} exists, skipped")
            continue
        start = time.time()
        try:
            import torch
            torch.set_num_threads(args.threads)
            export_one(name, path, bn_stats=args.bn_stats, batch=args.batch)
        except ImportError as e:
            print(f"export_torchvision: error: {e} (install python3-torch python3-torchvision "
                  f"python3-onnx: bash tools/install-deps.sh; run with /usr/bin/python3)",
                  file=sys.stderr)
            return 2
        print(f"export_torchvision: wrote {path} ({os.path.getsize(path)} bytes) "
              f"in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
