#!/usr/bin/env python3
"""Writes a .npy file of seeded random data, for tests and the README demo.

Floating dtypes get standard-normal values; integer dtypes get uniform integers in
[--low, --high); bool gets uniform True/False. The same --seed always gives the same file.

    /usr/bin/python3 tools/make_npy.py --shape 1,1,28,28 --dtype float32 --seed 0 --output x.npy
"""

import argparse
import os
import sys

import numpy as np


def parse_shape(text):
    """'1,1,28,28' -> (1, 1, 28, 28); '' or 'scalar' -> ()."""
    text = text.strip()
    if text in ("", "scalar"):
        return ()
    dims = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(f"bad dimension {part!r} in shape {text!r} (expected e.g. 1,3,224,224)")
        dims.append(int(part))
    return tuple(dims)


def make(shape, dtype, seed, low=-128, high=128):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(low, info.min), min(high, int(info.max) + 1)
        if lo >= hi:
            raise ValueError(f"empty range [{low}, {high}) for {dt}")
        return rng.integers(lo, hi, shape, dtype=np.int64).astype(dt)
    raise ValueError(f"unsupported dtype {dtype}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write seeded random data as a .npy file.")
    parser.add_argument("--shape", required=True, help="comma-separated dims, e.g. 1,1,28,28")
    parser.add_argument("--dtype", default="float32",
                        choices=["float32", "float64", "float16", "int8", "uint8",
                                 "int32", "int64", "bool"],
                        help="element type (default float32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--low", type=int, default=-128, help="integer dtypes: lowest value (default -128)")
    parser.add_argument("--high", type=int, default=128, help="integer dtypes: one past the highest value (default 128)")
    parser.add_argument("--output", required=True, help="output .npy path")
    args = parser.parse_args(argv)
    try:
        arr = make(parse_shape(args.shape), args.dtype, args.seed, args.low, args.high)
    except ValueError as e:
        print(f"make_npy: error: {e}", file=sys.stderr)
        return 1
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.output + ".tmp.npy"
    np.save(tmp, arr)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
