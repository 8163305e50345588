#!/usr/bin/env python3
"""Exports torchvision resnet18 and mobilenet_v2 to ONNX, with random weights.

No pretrained weights can be downloaded where leip is developed, and leip's compile and
benchmark work on large models needs correct shapes and realistic op mixes, not trained
accuracy. So the weights are random but reproducible (torch.manual_seed(0) before building
each model, `weights=None`).

Export: eval mode, input `input` float32 [1,3,224,224], output `output` [1,1000], ONNX opset
13, default constant folding (BatchNormalization folded into Conv by the exporter).
Writes DIR/resnet18.onnx and DIR/mobilenet_v2.onnx; a file that already exists is skipped,
so re-runs are fast (--force re-exports).

    /usr/bin/python3 tools/export_torchvision.py --output_dir build/models
"""

import argparse
import os
import sys
import time

MODELS = ("resnet18", "mobilenet_v2")
OPSET = 13


def export_one(name, path, seed=0):
    import torch
    import torchvision
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    model.eval()
    dummy = torch.randn(1, 3, 224, 224)
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, dummy, tmp, input_names=["input"], output_names=["output"],
                          opset_version=OPSET)
    import onnx
    onnx.checker.check_model(onnx.load(tmp))
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Export torchvision resnet18 and mobilenet_v2 (random weights, seed 0) to "
                    "ONNX opset 13: input 'input' [1,3,224,224], output 'output'.")
    parser.add_argument("--output_dir", required=True, help="output directory")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated subset of {','.join(MODELS)} (default: all)")
    parser.add_argument("--force", action="store_true", help="re-export existing files")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            parser.error(f"unknown model {n!r}; choose from {', '.join(MODELS)}")
    os.makedirs(args.output_dir, exist_ok=True)
    for name in names:
        path = os.path.join(args.output_dir, f"{name}.onnx")
        if os.path.exists(path) and not args.force:
            print(f"export_torchvision: {path} exists, skipped")
            continue
        start = time.time()
        try:
            import torch
            torch.set_num_threads(args.threads)
            export_one(name, path)
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
