#!/usr/bin/env python3
"""Trains leip's three Fashion-MNIST example models on CPU and exports them to ONNX.

No model weights can be downloaded where leip is developed, so the models with real, trained
weights that leip's quantization and accuracy tests need are trained here, in a few minutes on
two CPU cores, from Debian's `dataset-fashion-mnist` package:

  models/fmnist_cnn.onnx          plain CNN: (conv3x3-ReLU-maxpool) x2, fc-ReLU, fc
  models/fmnist_mobilenetv2.onnx  MobileNetV2-style: inverted residual blocks (1x1 expand + BN +
                                  ReLU6, 3x3 depthwise + BN + ReLU6, 1x1 project + BN, residual
                                  add when shapes match), global average pool, linear. Exported
                                  with its BatchNormalization nodes kept (no constant folding):
                                  the kind of model whose naive per-tensor int8 quantization
                                  loses accuracy, so leip's BN folding and per-channel /
                                  CLE / bias-correction paths are exercised.
  models/fmnist_resnet.onnx       small ResNet: basic blocks with BN and residual adds, strided
                                  downsample blocks with a 1x1 projection shortcut.

Every model: input `input` float32 [N,1,28,28] (dynamic batch), output `logits` float32 [N,10],
ONNX opset 13. Preprocessing (tools/fmnist.py): x = pixel/255; x = (x - 0.2860) / 0.3530.

After export, the fp32 top-1 accuracy of each exported .onnx file is measured on all 10,000 test
images with ONNX Runtime (tools/ort_accuracy.js; falls back to torch when Node.js or
onnxruntime-node is missing) and written to models/accuracy.json.

Deterministic: fixed seeds, 2 threads, fixed data order. Reproduce with

    /usr/bin/python3 tools/train_examples.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# OpenMP threads that spin while waiting are ruinous when other processes share the cores
# (measured here with a busy machine: MobileNetV2 step 5.4 s spinning vs 0.7 s passive).
# Must be set before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPSET = 13
SEED = 0


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

class SimpleCNN(nn.Module):
    """(conv3x3-ReLU-maxpool2) x2 -> fc 1568->128 -> ReLU -> fc 128->10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)   # 16x14x14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)   # 32x7x7
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def conv_bn(cin, cout, k, stride=1, groups=1, act=None):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand+BN+ReLU6, 3x3 depthwise+BN+ReLU6, 1x1 project+BN (+x)."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(
            conv_bn(cin, hidden, 1, act=nn.ReLU6),
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            conv_bn(hidden, cout, 1),
        )

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class MobileNetV2Small(nn.Module):
    """stem conv3x3 (16)+BN+ReLU6 -> inverted residual blocks (expand t, out c, stride s):
    (4,16,2) (4,24,1) (4,24,1)+res (4,32,2) (4,32,1)+res (4,48,1) -> conv1x1 192+BN+ReLU6 ->
    global avg pool -> linear 10. 28x28 -> 14x14 -> 7x7 (the stride sits in the depthwise conv,
    as in MobileNetV2)."""

    BLOCKS = [  # expand, out channels, stride
        (4, 16, 2), (4, 24, 1), (4, 24, 1), (4, 32, 2), (4, 32, 1), (4, 48, 1),
    ]

    def __init__(self):
        super().__init__()
        layers = [conv_bn(1, 16, 3, act=nn.ReLU6)]
        cin = 16
        for t, c, s in self.BLOCKS:
            layers.append(InvertedResidual(cin, c, s, t))
            cin = c
        layers.append(conv_bn(cin, 192, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(192, 10)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(x)


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3+BN+ReLU, conv3x3+BN, + shortcut (1x1 conv+BN when strided
    or widened), ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride, act=nn.ReLU)
        self.conv2 = conv_bn(cout, cout, 3)
        self.shortcut = (conv_bn(cin, cout, 1, stride)
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """stem conv3x3 (16)+BN+ReLU -> block(16, s1) -> block(32, s2, 1x1 proj) -> block(64, s2,
    1x1 proj) -> block(64, s1) -> global avg pool -> linear 10."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 16, 3, act=nn.ReLU)
        self.layers = nn.Sequential(
            BasicBlock(16, 16, 1),
            BasicBlock(16, 32, 2),
            BasicBlock(32, 64, 2),
            BasicBlock(64, 64, 1),
        )
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


# name -> (constructor, default epochs, peak learning rate, file name, keep BN nodes)
MODELS = {
    "cnn": (SimpleCNN, 4, 3e-3, "fmnist_cnn.onnx", False),
    "mobilenetv2": (MobileNetV2Small, 4, 4e-3, "fmnist_mobilenetv2.onnx", True),
    "resnet": (SmallResNet, 3, 4e-3, "fmnist_resnet.onnx", True),
}


def build(name):
    return MODELS[name][0]()


def count_params(model):
    return int(sum(p.numel() for p in model.parameters()))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def tune_malloc():
    """Keeps freed memory in glibc's heap instead of returning it to the kernel.

    torch allocates each activation (several MB at batch 128) with malloc; above glibc's mmap
    threshold every allocation is a fresh mmap whose pages fault in one by one, and on these
    VMs that page faulting made training 5-20x slower (a 1x1 conv backward: 144 ms -> 8 ms).
    Same effect as MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<huge> in the environment."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, 2**30)
        libc.mallopt(M_TOP_PAD, 64 << 20)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


def train(model, train_x, train_y, epochs, lr, batch_size, seed, log):
    """AdamW + one-cycle LR, fixed shuffling; returns training seconds."""
    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = (train_x.shape[0] + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=0.25)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(train_x.shape[0], generator=g)
        total_loss, correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            x, y = train_x[idx], train_y[idx]
            # Light augmentation: random horizontal flip (clothes are left/right symmetric).
            flip = torch.rand(x.shape[0], generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * x.shape[0]
            correct += int((out.argmax(1) == y).sum())
        n = train_x.shape[0]
        log(f"  epoch {epoch + 1}/{epochs}: loss {total_loss / n:.4f}, "
            f"train acc {correct / n:.4f}, {time.time() - start:.0f}s")
    return time.time() - start


@torch.no_grad()
def torch_accuracy(model, x, y, batch_size=500):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    return correct / x.shape[0]


# --------------------------------------------------------------------------------------------
# Export and ONNX Runtime evaluation
# --------------------------------------------------------------------------------------------

def export(model, path, keep_bn):
    """Exports in eval mode, opset 13, dynamic batch. keep_bn: no constant folding and no
    Conv+BN fusion, so the (inference-mode) BatchNormalization nodes stay in the graph."""
    import onnx
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    tmp = path + ".tmp"
    torch.onnx.export(
        model, dummy, tmp,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=OPSET,
        do_constant_folding=not keep_bn,
        # PRESERVE (with the model in eval mode) skips torch 1.13's eval-mode peephole pass,
        # which fuses Conv+BatchNormalization even when constant folding is off.
        training=torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL,
    )
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    if keep_bn and "BatchNormalization" not in ops:
        os.remove(tmp)
        raise RuntimeError(f"{path}: BatchNormalization nodes were folded away by the exporter")
    for node in m.graph.node:
        if node.op_type == "BatchNormalization":
            training_mode = [a.i for a in node.attribute if a.name == "training_mode"]
            if len(node.output) != 1 or any(training_mode):
                os.remove(tmp)
                raise RuntimeError(f"{path}: {node.name} is a training-mode BatchNormalization")
    os.replace(tmp, path)
    return ops


def ort_accuracy(onnx_path, images_npy, labels_npy):
    """Runs tools/ort_accuracy.js; returns top-1 or None when ORT/Node is unavailable."""
    script = os.path.join(REPO_ROOT, "tools", "ort_accuracy.js")
    try:
        res = subprocess.run(["node", script, onnx_path, images_npy, labels_npy],
                             capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"  warning: ONNX Runtime evaluation unavailable ({e}); using torch", file=sys.stderr)
        return None
    if res.returncode != 0:
        msg = (res.stderr.strip() or res.stdout.strip()).splitlines()
        print(f"  warning: ort_accuracy.js failed ({msg[-1] if msg else res.returncode}); "
              f"using torch", file=sys.stderr)
        return None
    return json.loads(res.stdout)["top1"]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train the Fashion-MNIST example models (CPU) and export them to ONNX "
                    "opset 13, then measure their fp32 top-1 with ONNX Runtime.")
    parser.add_argument("--output_dir", default=os.path.join(REPO_ROOT, "models"),
                        help="where the .onnx files and accuracy.json go (default: models/)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated subset of {','.join(MODELS)} (default: all)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override every model's epoch count (default: per model)")
    parser.add_argument("--batch_size", type=int, default=128, help="default 128")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"default {SEED}")
    parser.add_argument("--train_limit", type=int, default=None,
                        help="use only the first N training images (quick smoke runs)")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            parser.error(f"unknown model {n!r}; choose from {', '.join(MODELS)}")

    tune_malloc()
    torch.set_num_threads(args.threads)
    os.makedirs(args.output_dir, exist_ok=True)
    log = lambda s: print(s, flush=True)  # noqa: E731

    train_x, train_y = fmnist.load("train", args.train_limit)
    test_x, test_y = fmnist.load("test")
    train_x, train_y = torch.from_numpy(train_x), torch.from_numpy(train_y)
    test_xt, test_yt = torch.from_numpy(test_x), torch.from_numpy(test_y)

    acc_path = os.path.join(args.output_dir, "accuracy.json")
    results = {}
    if os.path.exists(acc_path):
        with open(acc_path) as f:
            results = json.load(f)

    total_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        images_npy = os.path.join(tmp, "images.npy")
        labels_npy = os.path.join(tmp, "labels.npy")
        np.save(images_npy, test_x)
        np.save(labels_npy, test_y)

        for name in names:
            ctor, default_epochs, lr, filename, keep_bn = MODELS[name]
            epochs = args.epochs or default_epochs
            seed_everything(args.seed)
            model = ctor()
            params = count_params(model)
            log(f"{name}: {params} parameters, {epochs} epochs, peak lr {lr}")
            train_s = train(model, train_x, train_y, epochs, lr, args.batch_size, args.seed, log)
            torch_top1 = torch_accuracy(model, test_xt, test_yt)

            path = os.path.join(args.output_dir, filename)
            t = time.time()
            ops = export(model, path, keep_bn)
            export_s = time.time() - t
            top1 = ort_accuracy(path, images_npy, labels_npy)
            evaluator = "onnxruntime-node"
            if top1 is None:
                top1, evaluator = torch_top1, "torch"
            elif abs(top1 - torch_top1) > 0.002:
                print(f"  warning: ONNX Runtime top-1 {top1:.4f} differs from torch "
                      f"{torch_top1:.4f}: the export may be wrong", file=sys.stderr)
            log(f"  {filename}: {os.path.getsize(path)} bytes, {len(ops)} nodes "
                f"({ops.count('BatchNormalization')} BatchNormalization); top-1 {top1:.4f} "
                f"({evaluator}; torch {torch_top1:.4f}); train {train_s:.0f}s, "
                f"export {export_s:.1f}s")
            results[name] = {
                "file": filename,
                "top1": round(top1, 4),
                "test_images": int(test_x.shape[0]),
                "epochs": epochs,
                "params": params,
                "evaluator": evaluator,
                "torch_top1": round(torch_top1, 4),
                "train_images": int(train_x.shape[0]),
                "train_seconds": round(train_s, 1),
                "batch_norm_nodes": ops.count("BatchNormalization"),
                "opset": OPSET,
            }
            tmp_json = acc_path + ".tmp"
            with open(tmp_json, "w") as f:
                json.dump(results, f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp_json, acc_path)
    log(f"done in {time.time() - total_start:.0f}s; wrote {acc_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
