#!/usr/bin/env python3
"""Fashion-MNIST loader shared by leip's tools and tests.

Reads the idx-ubyte(.gz) files of Debian's `dataset-fashion-mnist` package
(/usr/share/datasets/fashion-mnist/) with numpy only, so it works without torch.

Preprocessing used by every leip Fashion-MNIST model (training, export, evaluation):

    x = pixel / 255.0                 # uint8 -> float32 in [0, 1]
    x = (x - 0.2860) / 0.3530         # dataset mean / std of the training set

Images come out as float32 NCHW arrays of shape (N, 1, 28, 28); labels as int64 (N,).

CLI (writes the first N test images, preprocessed, plus their labels):

    /usr/bin/python3 tools/fmnist.py --count 1000 --output DIR
        -> DIR/images.npy  (N,1,28,28) float32
           DIR/labels.npy  (N,)        int64
"""

import argparse
import gzip
import os
import sys

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN = 0.2860
STD = 0.3530
CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open(path):
    """Opens `path` or `path.gz`, whichever exists."""
    if os.path.exists(path):
        return open(path, "rb")
    if os.path.exists(path + ".gz"):
        return gzip.open(path + ".gz", "rb")
    raise FileNotFoundError(
        f"{path}(.gz) not found; install the Debian package dataset-fashion-mnist "
        f"(bash tools/install-deps.sh)")


def _read_idx(path, expected_ndim):
    """Reads an idx file (big-endian header, magic 0x0000080N for uint8 data)."""
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an idx uint8 file")
    ndim = data[3]
    if ndim != expected_ndim:
        raise ValueError(f"{path}: expected {expected_ndim} dims, found {ndim}")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(data) - offset != count:
        raise ValueError(f"{path}: truncated ({len(data) - offset} of {count} bytes)")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def load_raw(split="test", data_dir=DATA_DIR):
    """Returns (images uint8 (N,28,28), labels uint8 (N,)) for split 'train' or 'test'."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    img_name, lbl_name = _FILES[split]
    images = _read_idx(os.path.join(data_dir, img_name), 3)
    labels = _read_idx(os.path.join(data_dir, lbl_name), 1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def preprocess(images_u8):
    """uint8 (N,28,28) -> float32 (N,1,28,28): pixel/255, then (x-0.2860)/0.3530."""
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x[:, None, :, :], dtype=np.float32)


def load(split="test", count=None, data_dir=DATA_DIR):
    """Returns (images float32 (N,1,28,28) preprocessed, labels int64 (N,)).

    `count` limits the result to the first `count` items of the split (None: all)."""
    images, labels = load_raw(split, data_dir)
    if count is not None:
        if count <= 0 or count > images.shape[0]:
            raise ValueError(f"count must be in 1..{images.shape[0]}, not {count}")
        images, labels = images[:count], labels[:count]
    return preprocess(images), labels.astype(np.int64)


def load_test(count=None, data_dir=DATA_DIR):
    """The test split (10,000 images), preprocessed; see load()."""
    return load("test", count, data_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Write the first N Fashion-MNIST test images (preprocessed: "
                    "pixel/255, then (x-0.2860)/0.3530; float32 N,1,28,28) and their "
                    "labels (int64) as DIR/images.npy and DIR/labels.npy.")
    parser.add_argument("--count", type=int, default=10000,
                        help="number of test images (1..10000, default 10000)")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--split", choices=["test", "train"], default="test",
                        help="dataset split (default test)")
    parser.add_argument("--data_dir", default=DATA_DIR,
                        help=f"folder with the idx files (default {DATA_DIR})")
    args = parser.parse_args(argv)
    try:
        images, labels = load(args.split, args.count, args.data_dir)
    except (OSError, ValueError) as e:
        print(f"fmnist: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)
    for name, arr in (("images.npy", images), ("labels.npy", labels)):
        path = os.path.join(args.output, name)
        tmp = path + ".tmp.npy"
        np.save(tmp, arr)
        os.replace(tmp, path)
    print(f"fmnist: wrote {images.shape[0]} {args.split} images to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
