#!/usr/bin/env python3
"""Generates ONNX's own node conformance cases (onnx.backend.test) for leip's conformance tests.

Each case is DIR/node/<case>/model.onnx plus DIR/node/<case>/test_data_set_*/{input,output}_*.pb
(TensorProto files). With Debian's python3-onnx 1.12 this is about 920 node cases.

Why not just `backend-test-tools generate-data -o DIR`: under Debian's numpy 1.24 it fails,
because one case (bernoulli) still uses the alias `np.float` that numpy 1.24 removed
(castlike uses `np.object`). This script restores those aliases (`np.float = float`, likewise
`int`, `bool`, `object`, `str`) and then runs `onnx.backend.test.cmd_tools.main()` in-process.
numpy's global random state is seeded first, so the same onnx version gives the same data.

A stamp file (DIR/.leip_conformance_stamp.json: onnx version, case count) makes re-runs free;
--force regenerates. Cases are generated into DIR/.generating and moved into place at the end,
so an interrupted run never leaves a half-written set behind a valid stamp.

    /usr/bin/python3 tools/gen_conformance.py --output_dir build/onnx-conformance
"""

import argparse
import json
import os
import shutil
import sys
import time

STAMP = ".leip_conformance_stamp.json"


def restore_numpy_aliases(np):
    """Brings back the aliases numpy 1.24 removed, which onnx 1.12's test cases still use."""
    for name, value in (("float", float), ("int", int), ("bool", bool),
                        ("object", object), ("str", str)):
        if name not in np.__dict__:
            setattr(np, name, value)


def count_cases(root):
    node_dir = os.path.join(root, "node")
    if not os.path.isdir(node_dir):
        return 0
    return sum(1 for d in os.listdir(node_dir)
               if os.path.isfile(os.path.join(node_dir, d, "model.onnx")))


def read_stamp(out_dir):
    try:
        with open(os.path.join(out_dir, STAMP)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def generate(out_dir, op_type=None, seed=0):
    import numpy as np
    restore_numpy_aliases(np)
    import onnx
    from onnx.backend.test import cmd_tools

    work = os.path.join(out_dir, ".generating")
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)

    np.random.seed(seed)
    argv = ["backend-test-tools", "generate-data", "-o", work]
    if op_type:
        argv += ["-t", op_type]
    saved_argv = sys.argv
    sys.argv = argv
    try:
        cmd_tools.main()
    finally:
        sys.argv = saved_argv

    # Move the generated kinds (node/, real/, ...) into place, replacing older ones.
    for kind in sorted(os.listdir(work)):
        dst = os.path.join(out_dir, kind)
        if os.path.exists(dst):
            shutil.rmtree(dst)
        os.replace(os.path.join(work, kind), dst)
    os.rmdir(work)
    return onnx.__version__


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Generate ONNX's node conformance cases (model.onnx + test_data_set_*/"
                    "{input,output}_*.pb) under DIR/node/<case>/, working around numpy 1.24.")
    parser.add_argument("--output_dir", required=True, help="output directory (DIR)")
    parser.add_argument("--op_type", default=None,
                        help="only cases containing this operator (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="numpy random seed (default 0)")
    parser.add_argument("--force", action="store_true",
                        help="regenerate even when DIR's stamp says it is complete")
    args = parser.parse_args(argv)

    out_dir = os.path.abspath(args.output_dir)
    stamp = read_stamp(out_dir)
    want = {"op_type": args.op_type, "seed": args.seed}
    if (not args.force and stamp
            and {k: stamp.get(k) for k in want} == want
            and stamp.get("node_cases") == count_cases(out_dir)):
        try:
            import onnx
            current = onnx.__version__
        except ImportError:
            current = stamp.get("onnx_version")
        if stamp.get("onnx_version") == current:
            print(f"gen_conformance: {out_dir} is up to date "
                  f"({stamp['node_cases']} node cases, onnx {current})")
            return 0

    os.makedirs(out_dir, exist_ok=True)
    stamp_path = os.path.join(out_dir, STAMP)
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    start = time.time()
    try:
        version = generate(out_dir, args.op_type, args.seed)
    except ImportError as e:
        print(f"gen_conformance: error: {e} (install python3-onnx and python3-numpy: "
              f"bash tools/install-deps.sh; run with /usr/bin/python3)", file=sys.stderr)
        return 2
    seconds = time.time() - start
    cases = count_cases(out_dir)
    if cases == 0:
        print(f"gen_conformance: error: no node cases were generated in {out_dir}", file=sys.stderr)
        return 3
    info = dict(want, onnx_version=version, node_cases=cases, seconds=round(seconds, 1))
    tmp = stamp_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, stamp_path)
    print(f"gen_conformance: wrote {cases} node cases to {out_dir} in {seconds:.1f}s "
          f"(onnx {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
