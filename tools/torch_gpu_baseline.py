#!/usr/bin/env python3
"""PyTorch's latency for torchvision models on the local GPU: the peer that leip's cuda
artifacts are timed against in docs/cuda.md (ONNX Runtime's CUDA provider is not installed
on the GPU machines here; PyTorch with cuDNN is).

For each model and batch: eval mode, random weights, fp32 with TF32 off (leip's kernels are
plain fp32; TF32 would trade accuracy for speed), cudnn.benchmark on. Two timings per case,
each the median of --iterations runs after --warmup runs, timed with time.perf_counter around
one synchronized forward:
  device:    the input already on the GPU, the output left there;
  host:      the input copied from host memory and the output back (what leip_context_run
             does, so that column compares with tools/gpu_check.py's medians).

    python3 tools/torch_gpu_baseline.py [--models resnet18,mobilenet_v2] [--batches 1,8]
                                        [--json FILE]
"""

import argparse
import json
import statistics
import sys
import time


def median_ms(fn, warmup, iterations, sync):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,mobilenet_v2")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:
        print(f"torch_gpu_baseline: {e}", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print("torch_gpu_baseline: no CUDA device visible to PyTorch", file=sys.stderr)
        return 3
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda")
    results = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
               "cudnn": torch.backends.cudnn.version(), "cases": []}
    print(f"torch {torch.__version__}, cuDNN {results['cudnn']}, {results['gpu']}")
    print(f"{'case':<18} {'device ms':>10} {'host ms':>10}")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval().to(device)
        for batch in (int(b) for b in args.batches.split(",")):
            host_input = torch.randn(batch, 3, 224, 224)  # pageable, as the caller's buffers of leip_context_run
            device_input = host_input.to(device)
            with torch.inference_mode():
                on_device = median_ms(lambda: model(device_input), args.warmup, args.iterations, torch.cuda.synchronize)
                with_copies = median_ms(lambda: model(host_input.to(device)).cpu(), args.warmup, args.iterations,
                                        torch.cuda.synchronize)
            case = {"name": f"{name}_b{batch}", "model": name, "batch": batch, "device_median_ms": on_device,
                    "host_median_ms": with_copies}
            results["cases"].append(case)
            print(f"{case['name']:<18} {on_device:>10.3f} {with_copies:>10.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
