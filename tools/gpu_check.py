#!/usr/bin/env python3
"""Checks compiled leip artifacts on the machine they run on: outputs against reference .npy
files, then latency. Needs python3 and numpy only, no leip build: it loads the artifact's
modelLibrary.so with ctypes through the C ABI of include/leip/runtime.h, which CPU and CUDA
artifacts share, so it runs wherever the artifact runs (a GPU machine without our toolchain).

For each case:
  1. load DIR/modelLibrary.so (the loader's message on failure), read DIR/model_schema.json
     and check that the library's inputs/outputs are the schema's;
  2. read the input .npy files and check them against the model's dtypes and shapes;
  3. leip_context_create (leip_last_error() on failure: a CUDA artifact says there when no
     driver or device is usable), then one run;
  4. compare each output with its reference .npy: max |got - ref| and that divided by
     max |ref| (the relative error); pass when the relative error <= --tolerance (1e-3);
  5. --warmup untimed runs, then --iterations runs timed one by one with time.perf_counter
     around leip_context_run (a CUDA run includes its host<->device copies); min, median,
     p90 (nearest rank, as `leip benchmark`) and mean in ms;
  6. the last run's outputs are compared with the reference again (a race or stale memory
     would show here) and with the first run's (bitwise identical or not: reported only).

Output buffers start as NaN (float) so that an output the runtime never writes fails.

--device_io (CUDA artifacts, needs torch with CUDA): steps 3-6 once more through
leip_context_run_device with inputs and outputs in GPU memory (torch tensors), so that those
timings leave out the host<->device copies. The CUDA runtime's environment variables
(LEIP_CUDA_DEVICE, LEIP_CUDA_GRAPHS, LEIP_PROFILE: include/leip/runtime.h) reach every case.

Single case:
    python3 tools/gpu_check.py DIR --input x.npy [--input NAME=y.npy] \\
        --reference out.npy [--reference NAME=out2.npy] [--name resnet18_b1]
Inputs and references without NAME= go to the model's inputs/outputs in declared order.

Manifest (written by `tools/gpu-check.sh prepare`):
    python3 tools/gpu_check.py --manifest OUT/manifest.json [--cases a,b] [--json results.json]
{"cases": [{"name", "model", "batch", "artifact", "inputs": [{"name", "path"}],
            "references": [{"name", "path"}], "tolerance" (optional)}, ...]}, paths relative
to the manifest's folder. Each case runs in its own child process (--in_process: in this
one), so a crash or hang (--case_timeout) costs that case only. Without --cases, a case whose
folder is absent (not carried to this machine) is listed as absent and skipped; named in
--cases, it is an error.

Exit code: 0 every case passed, 1 an output differs from its reference, 2 usage or bad input
(missing file, wrong shape/dtype, bad manifest), 3 runtime failure (library does not load,
context creation or a run fails, the case crashed or timed out). With several cases the
highest applicable code wins: 3, then 2, then 1.
"""

import argparse
import ctypes
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError:
    # Exit 2, not Python's 1, which would read as a mismatch.
    print(f"gpu_check: numpy is missing for {sys.executable}; use a python3 that has it", file=sys.stderr)
    sys.exit(2)

EXIT_PASS, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_RUNTIME = 0, 1, 2, 3
STATUS_OF_EXIT = {EXIT_PASS: "pass", EXIT_MISMATCH: "mismatch", EXIT_BAD_INPUT: "bad input",
                  EXIT_RUNTIME: "runtime failure"}
LEIP_OK = 0
ABI_VERSION = 1
# leip_dtype numbering (include/leip/runtime.h).
DTYPES = {0: np.float32, 1: np.float16, 2: np.int8, 3: np.uint8, 4: np.int32, 5: np.int64, 6: np.bool_}
DTYPE_NAMES = {0: "float32", 1: "float16", 2: "int8", 3: "uint8", 4: "int32", 5: "int64", 6: "bool"}
STATUS_NAMES = {1: "LEIP_ERROR_INVALID_ARGUMENT", 2: "LEIP_ERROR_SHAPE", 3: "LEIP_ERROR_DTYPE",
                4: "LEIP_ERROR_OUT_OF_MEMORY", 5: "LEIP_ERROR_INTERNAL", 6: "LEIP_ERROR_DEVICE"}


class CheckError(Exception):
    """Ends one case with an exit code and a message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def status_text(status):
    return STATUS_NAMES.get(status, f"status {status}")


def c_str(value):
    return value.decode("utf-8", "replace") if value else ""


def bind(lib):
    """Declares the C ABI's signatures on the loaded library."""
    p, i32, i64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
    i64p = ctypes.POINTER(i64)
    sigs = {
        "leip_runtime_abi_version": (i32, []),
        "leip_model_get": (p, []),
        "leip_model_num_inputs": (i32, [p]),
        "leip_model_num_outputs": (i32, [p]),
        "leip_model_input_name": (ctypes.c_char_p, [p, i32]),
        "leip_model_input_dtype": (i32, [p, i32]),
        "leip_model_input_rank": (i32, [p, i32]),
        "leip_model_input_dims": (i64p, [p, i32]),
        "leip_model_input_bytes": (i64, [p, i32]),
        "leip_model_output_name": (ctypes.c_char_p, [p, i32]),
        "leip_model_output_dtype": (i32, [p, i32]),
        "leip_model_output_rank": (i32, [p, i32]),
        "leip_model_output_dims": (i64p, [p, i32]),
        "leip_model_output_bytes": (i64, [p, i32]),
        "leip_context_create": (i32, [p, ctypes.POINTER(p)]),
        "leip_context_destroy": (None, [p]),
        "leip_context_set_threads": (i32, [p, i32]),
        "leip_context_run": (i32, [p, ctypes.POINTER(p), i64p, ctypes.POINTER(p), i64p]),
        "leip_context_last_error": (ctypes.c_char_p, [p]),
        "leip_last_error": (ctypes.c_char_p, []),
    }
    for name, (restype, argtypes) in sigs.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise CheckError(EXIT_RUNTIME, f"the library does not export {name}: not a leip artifact?") from None
        fn.restype, fn.argtypes = restype, argtypes
    # An addition to ABI 1 (CUDA artifacts; CPU ones answer LEIP_ERROR_INVALID_ARGUMENT): optional.
    if hasattr(lib, "leip_context_run_device"):
        lib.leip_context_run_device.restype = i32
        lib.leip_context_run_device.argtypes = [p, ctypes.POINTER(p), ctypes.POINTER(p)]


def tensors(lib, model, kind):
    """[{name, dtype, shape, bytes}] of the model's inputs or outputs, from the library."""
    get = lambda what: getattr(lib, f"leip_model_{kind}_{what}")  # noqa: E731
    count = getattr(lib, f"leip_model_num_{kind}s")(model)
    result = []
    for index in range(count):
        rank = get("rank")(model, index)
        dims = get("dims")(model, index)
        result.append({"name": c_str(get("name")(model, index)), "dtype": get("dtype")(model, index),
                       "shape": [int(dims[d]) for d in range(rank)], "bytes": int(get("bytes")(model, index))})
    return result


def parse_named(values):
    """--input/--reference arguments: [(name or None, path)]."""
    result = []
    for value in values or []:
        name, sep, path = value.partition("=")
        if sep and name and not os.path.exists(value):
            result.append((name, path))
        else:
            result.append((None, value))
    return result


def assign(named, declared, what):
    """Maps (name or None, path) pairs onto the declared tensors: {tensor name: path}."""
    names = [t["name"] for t in declared]
    mapping = {}
    for name, path in named:
        if name is not None:
            if name not in names:
                raise CheckError(EXIT_BAD_INPUT, f"'{name}' is not an {what} of the model ({', '.join(names)})")
            if name in mapping:
                raise CheckError(EXIT_BAD_INPUT, f"{what} '{name}' given twice")
            mapping[name] = path
    free = [n for n in names if n not in mapping]
    positional = [path for name, path in named if name is None]
    if len(positional) > len(free):
        raise CheckError(EXIT_BAD_INPUT, f"{len(named)} {what} files given, the model has {len(names)} {what}s "
                                         f"({', '.join(names)})")
    mapping.update(zip(free, positional))
    return mapping


def load_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CheckError(EXIT_BAD_INPUT, f"{what}: cannot read {path}: {e}") from None


def shape_text(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def stats(ms):
    ms = sorted(ms)
    n = len(ms)
    median = ms[n // 2] if n % 2 else (ms[n // 2 - 1] + ms[n // 2]) / 2
    return {"min_ms": ms[0], "median_ms": median, "p90_ms": ms[math.ceil(0.9 * n) - 1],
            "mean_ms": sum(ms) / n, "max_ms": ms[-1], "iterations": n}


def compare(got, want):
    """(max abs diff, relative error) in float64; NaN anywhere makes both NaN."""
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    if got64.size == 0:
        return 0.0, 0.0
    diff = float(np.max(np.abs(got64 - want64)))
    if np.isnan(got64).any() or np.isnan(want64).any():
        diff = float("nan")
    scale = float(np.max(np.abs(want64)))
    if scale == 0.0:
        return diff, 0.0 if diff == 0.0 else float("inf")
    return diff, diff / scale


def worst(values):
    """The largest error; NaN when any is NaN (max() would depend on the order)."""
    return float("nan") if any(v != v for v in values) else max(values)


def passes(rel, tolerance):
    return rel == rel and rel <= tolerance  # NaN never passes


def check_case(case, args):
    """Runs one case; returns its result dict (status pass/mismatch). Raises CheckError."""
    result = {"name": case["name"], "artifact": case["artifact"], "model": case.get("model"),
              "batch": case.get("batch"), "tolerance": case.get("tolerance", args.tolerance)}
    tolerance = result["tolerance"]
    artifact = case["artifact"]
    library_path = os.path.join(artifact, "modelLibrary.so")
    schema_path = os.path.join(artifact, "model_schema.json")
    if not os.path.isdir(artifact):
        raise CheckError(EXIT_BAD_INPUT, f"{artifact}: no such artifact directory")
    for path in (library_path, schema_path):
        if not os.path.isfile(path):
            raise CheckError(EXIT_BAD_INPUT, f"{artifact} is not a leip artifact directory ({os.path.basename(path)} "
                                             f"is missing)")
    try:
        with open(schema_path) as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckError(EXIT_BAD_INPUT, f"{schema_path}: {e}") from None
    target = schema.get("target", {})
    # "cuda sm_90" for CUDA artifacts, "x86_64 generic" for CPU ones.
    result["target"] = " ".join(str(target[k]) for k in ("arch", "gpu_arch" if target.get("gpu_arch") else "cpu")
                                if target.get(k)) or "?"
    result["library_bytes"] = os.path.getsize(library_path)

    start = time.perf_counter()
    try:
        lib = ctypes.CDLL(os.path.abspath(library_path), mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except OSError as e:
        raise CheckError(EXIT_RUNTIME, f"cannot load {library_path}: {e}") from None
    result["load_ms"] = (time.perf_counter() - start) * 1e3
    bind(lib)
    abi = lib.leip_runtime_abi_version()
    if abi != ABI_VERSION:
        raise CheckError(EXIT_RUNTIME, f"{library_path} implements runtime ABI {abi}, this tool ABI {ABI_VERSION}")
    model = lib.leip_model_get()
    inputs, outputs = tensors(lib, model, "input"), tensors(lib, model, "output")
    for kind, declared in (("inputs", inputs), ("outputs", outputs)):
        in_schema = [(t["name"], t["dtype"], list(t["shape"])) for t in schema.get(kind, [])]
        in_library = [(t["name"], DTYPE_NAMES.get(t["dtype"], str(t["dtype"])), t["shape"]) for t in declared]
        if in_schema != in_library:
            raise CheckError(EXIT_BAD_INPUT, f"{artifact}: model_schema.json's {kind} {in_schema} differ from the "
                                             f"library's {in_library}")

    # Inputs, checked against the model before anything runs.
    feed = assign(case["inputs"], inputs, "input")
    missing = [t["name"] for t in inputs if t["name"] not in feed]
    if missing:
        raise CheckError(EXIT_BAD_INPUT, f"no data for input(s) {', '.join(missing)}")
    input_arrays = []
    for t in inputs:
        array = load_npy(feed[t["name"]], f"input '{t['name']}'")
        want_dtype = np.dtype(DTYPES[t["dtype"]])
        if array.dtype != want_dtype:
            raise CheckError(EXIT_BAD_INPUT, f"input '{t['name']}' ({feed[t['name']]}) has dtype {array.dtype}, the "
                                             f"model expects {want_dtype}")
        if list(array.shape) != t["shape"]:
            raise CheckError(EXIT_BAD_INPUT, f"input '{t['name']}' ({feed[t['name']]}) has shape "
                                             f"{shape_text(array.shape)}, the model expects {shape_text(t['shape'])}")
        input_arrays.append(np.ascontiguousarray(array))
    refs = assign(case["references"], outputs, "output")
    reference_arrays = {}
    for t in outputs:
        if t["name"] not in refs:
            continue
        ref = load_npy(refs[t["name"]], f"reference for output '{t['name']}'")
        if list(ref.shape) != t["shape"]:
            raise CheckError(EXIT_BAD_INPUT, f"reference {refs[t['name']]} has shape {shape_text(ref.shape)}, "
                                             f"output '{t['name']}' has {shape_text(t['shape'])}")
        reference_arrays[t["name"]] = ref
    if not reference_arrays:
        raise CheckError(EXIT_BAD_INPUT, "no reference output given")

    output_arrays = []
    for t in outputs:
        array = np.empty(t["shape"], DTYPES[t["dtype"]])
        if array.dtype.kind == "f":
            array.fill(np.nan)  # an output the run never writes cannot pass
        else:
            array.fill(np.iinfo(array.dtype).max if array.dtype.kind in "iu" else 1)
        output_arrays.append(array)
    voidp = ctypes.c_void_p
    in_ptrs = (voidp * len(inputs))(*[a.ctypes.data for a in input_arrays])
    in_bytes = (ctypes.c_int64 * len(inputs))(*[a.nbytes for a in input_arrays])
    out_ptrs = (voidp * len(outputs))(*[a.ctypes.data for a in output_arrays])
    out_bytes = (ctypes.c_int64 * len(outputs))(*[a.nbytes for a in output_arrays])

    context = voidp()
    start = time.perf_counter()
    status = lib.leip_context_create(model, ctypes.byref(context))
    result["create_ms"] = (time.perf_counter() - start) * 1e3
    if status != LEIP_OK:
        raise CheckError(EXIT_RUNTIME, f"leip_context_create failed ({status_text(status)}): {c_str(lib.leip_last_error())}")
    try:
        if args.threads is not None:
            status = lib.leip_context_set_threads(context, args.threads)
            if status != LEIP_OK:
                raise CheckError(EXIT_RUNTIME, f"leip_context_set_threads({args.threads}) failed: "
                                               f"{c_str(lib.leip_context_last_error(context))}")

        def run_once():
            status = lib.leip_context_run(context, in_ptrs, in_bytes, out_ptrs, out_bytes)
            if status != LEIP_OK:
                raise CheckError(EXIT_RUNTIME, f"leip_context_run failed ({status_text(status)}): "
                                               f"{c_str(lib.leip_context_last_error(context))}")

        start = time.perf_counter()
        run_once()
        result["first_run_ms"] = (time.perf_counter() - start) * 1e3
        first = {t["name"]: a.copy() for t, a in zip(outputs, output_arrays)}

        def compare_all(arrays):
            rows = []
            for t, got in zip(outputs, arrays):
                if t["name"] in reference_arrays:
                    diff, rel = compare(got, reference_arrays[t["name"]])
                    rows.append({"name": t["name"], "shape": t["shape"], "max_abs_diff": diff, "rel_error": rel,
                                 "reference_max_abs": float(np.max(np.abs(reference_arrays[t["name"]])))
                                 if got.size else 0.0, "pass": passes(rel, tolerance)})
            return rows

        result["outputs"] = compare_all([first[t["name"]] for t in outputs])
        for _ in range(args.warmup):
            run_once()
        times = []
        for _ in range(args.iterations):
            start = time.perf_counter()
            run_once()
            times.append((time.perf_counter() - start) * 1e3)
        if times:
            result.update(stats(times))
            last = compare_all(output_arrays)
            for row, again in zip(result["outputs"], last):
                row["last_run_rel_error"] = again["rel_error"]
                row["pass"] = row["pass"] and again["pass"]
            result["repeat_bitwise_identical"] = all(
                np.array_equal(first[t["name"]], a, equal_nan=a.dtype.kind == "f")
                for t, a in zip(outputs, output_arrays))
        device_io_error = None
        if args.device_io:
            try:
                result["device_io"] = check_device_io(lib, context, input_arrays, outputs, compare_all, args)
                for row, dev in zip(result["outputs"], result["device_io"]["outputs"]):
                    row["device_io_rel_error"] = worst([dev["rel_error"], dev["last_run_rel_error"]])
                    row["pass"] = row["pass"] and dev["pass"]
            except CheckError as e:
                device_io_error = e  # reported below, with the host results kept
    finally:
        lib.leip_context_destroy(context)
    for key in ("rel_error", "max_abs_diff"):
        result[key] = worst([r[key] for r in result["outputs"]])
    result["status"] = "pass" if all(r["pass"] for r in result["outputs"]) else "mismatch"
    result["exit_code"] = EXIT_PASS if result["status"] == "pass" else EXIT_MISMATCH
    if device_io_error is not None:
        result.update(status=STATUS_OF_EXIT[device_io_error.code], exit_code=device_io_error.code,
                      error=str(device_io_error))
    return result


def check_device_io(lib, context, input_arrays, outputs, compare_all, args):
    """--device_io: the same checks through leip_context_run_device, inputs and outputs in GPU
    memory (torch tensors), so the timings leave out the host<->device copies."""
    if not hasattr(lib, "leip_context_run_device"):
        raise CheckError(EXIT_RUNTIME, "--device_io: the library does not export leip_context_run_device")
    try:
        import torch
    except ImportError:
        raise CheckError(EXIT_BAD_INPUT, "--device_io needs torch (with CUDA) in this python") from None
    if not torch.cuda.is_available():
        raise CheckError(EXIT_BAD_INPUT, "--device_io needs torch with CUDA: torch.cuda.is_available() is False")
    device = torch.device("cuda", int(os.environ.get("LEIP_CUDA_DEVICE", "0")))  # the GPU the runtime uses
    d_inputs = [torch.from_numpy(a).to(device) for a in input_arrays]
    d_outputs = []
    for t in outputs:
        d = torch.from_numpy(np.zeros(t["shape"], DTYPES[t["dtype"]])).to(device)
        if d.is_floating_point():
            d.fill_(float("nan"))  # an output the run never writes cannot pass
        d_outputs.append(d)
    torch.cuda.synchronize(device)  # the run does not wait for torch's stream
    voidp = ctypes.c_void_p
    in_ptrs = (voidp * len(d_inputs))(*[d.data_ptr() for d in d_inputs])
    out_ptrs = (voidp * len(d_outputs))(*[d.data_ptr() for d in d_outputs])

    def run_once():
        status = lib.leip_context_run_device(context, in_ptrs, out_ptrs)
        if status != LEIP_OK:
            raise CheckError(EXIT_RUNTIME, f"leip_context_run_device failed ({status_text(status)}): "
                                           f"{c_str(lib.leip_context_last_error(context))}")

    run_once()
    host = lambda: [d.cpu().numpy() for d in d_outputs]  # noqa: E731
    rows = compare_all(host())
    for _ in range(args.warmup):
        run_once()
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        run_once()
        times.append((time.perf_counter() - start) * 1e3)
    for row, again in zip(rows, compare_all(host())):
        row["last_run_rel_error"] = again["rel_error"]
        row["pass"] = row["pass"] and again["pass"]
    return {"outputs": rows, **stats(times)}


def run_case(case, args):
    """check_case, with failures turned into a result row."""
    try:
        return check_case(case, args)
    except CheckError as e:
        return {"name": case["name"], "artifact": case["artifact"], "model": case.get("model"),
                "batch": case.get("batch"), "status": STATUS_OF_EXIT[e.code], "exit_code": e.code, "error": str(e)}


def run_case_in_child(case, args):
    """The case in a child process (this script, single-case mode), so that a crash or a hang
    loses this case only."""
    fd, json_path = tempfile.mkstemp(prefix="gpu_check_", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), case["artifact"], "--name", case["name"],
           "--tolerance", repr(case.get("tolerance", args.tolerance)), "--warmup", str(args.warmup),
           "--iterations", str(args.iterations), "--json", json_path, "--quiet"]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    if args.device_io:
        cmd.append("--device_io")
    for flag, key in (("--input", "inputs"), ("--reference", "references")):
        for name, path in case[key]:
            cmd += [flag, f"{name}={path}" if name else path]
    base = {"name": case["name"], "artifact": case["artifact"], "model": case.get("model"), "batch": case.get("batch")}
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, timeout=args.case_timeout)
        rc = proc.returncode
        try:
            with open(json_path) as f:
                [result] = json.load(f)["cases"]
        except (OSError, ValueError):
            how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
            return {**base, "status": "runtime failure", "exit_code": EXIT_RUNTIME,
                    "error": f"the case's process ended without a result ({how})"}
        result.update({k: v for k, v in base.items() if v is not None})
        return result
    except subprocess.TimeoutExpired:
        return {**base, "status": "runtime failure", "exit_code": EXIT_RUNTIME,
                "error": f"timed out after {args.case_timeout} s (--case_timeout)"}
    finally:
        os.unlink(json_path)


def named_list(items, base, what, case_name):
    """Manifest [{name, path}] or [path] -> [(name or None, absolute path)]."""
    if not isinstance(items, list):
        raise CheckError(EXIT_BAD_INPUT, f"case {case_name}: '{what}' must be a list")
    result = []
    for item in items:
        if isinstance(item, str):
            result.append((None, os.path.join(base, item)))
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            result.append((item.get("name"), os.path.join(base, item["path"])))
        else:
            raise CheckError(EXIT_BAD_INPUT, f"case {case_name}: bad '{what}' entry {item!r}")
    return result


def load_manifest(path, selected):
    """The manifest's cases (paths made absolute), [absent case names]."""
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckError(EXIT_BAD_INPUT, f"manifest {path}: {e}") from None
    base = os.path.dirname(os.path.abspath(path))
    raw = manifest.get("cases") if isinstance(manifest, dict) else None
    if not isinstance(raw, list) or not raw:
        raise CheckError(EXIT_BAD_INPUT, f"manifest {path} lists no cases")
    cases, absent = [], []
    names = [c.get("name") for c in raw if isinstance(c, dict)]
    unknown = [n for n in selected or [] if n not in names]
    if unknown:
        raise CheckError(EXIT_BAD_INPUT, f"--cases: {', '.join(unknown)} not in {path} (cases: {', '.join(names)})")
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or \
                not isinstance(entry.get("artifact"), str):
            raise CheckError(EXIT_BAD_INPUT, f"manifest {path}: each case needs 'name' and 'artifact'")
        name = entry["name"]
        if selected and name not in selected:
            continue
        case = {"name": name, "model": entry.get("model"), "batch": entry.get("batch"),
                "artifact": os.path.join(base, entry["artifact"]),
                "inputs": named_list(entry.get("inputs", []), base, "inputs", name),
                "references": named_list(entry.get("references", []), base, "references", name)}
        if "tolerance" in entry:
            case["tolerance"] = float(entry["tolerance"])
        if not selected and not os.path.isdir(case["artifact"]):
            absent.append(name)
            continue
        cases.append(case)
    return cases, absent


def fmt(value, spec):
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:
        return "nan"
    return format(value, spec)


def print_table(results, absent):
    header = ("case", "target", "status", "max|diff|", "rel err", "create ms", "1st run ms", "min ms",
              "median ms", "p90 ms", "runs")
    device_io = any("device_io" in r for r in results)
    if device_io:  # leip_context_run_device: no host<->device copies
        header += ("dev-io median ms", "dev-io p90 ms")
    rows = []
    for r in results:
        row = (r["name"], r.get("target", "-"), r["status"], fmt(r.get("max_abs_diff"), ".3g"),
               fmt(r.get("rel_error"), ".3g"), fmt(r.get("create_ms"), ".1f"), fmt(r.get("first_run_ms"), ".2f"),
               fmt(r.get("min_ms"), ".3f"), fmt(r.get("median_ms"), ".3f"), fmt(r.get("p90_ms"), ".3f"),
               fmt(r.get("iterations"), "d"))
        if device_io:
            dev = r.get("device_io", {})
            row += (fmt(dev.get("median_ms"), ".3f"), fmt(dev.get("p90_ms"), ".3f"))
        rows.append(row)
    for name in absent:
        rows.append((name, "-", "absent") + ("-",) * (len(header) - 3))
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    sys.stdout.flush()  # the failure lines below go to stderr
    for r in results:
        if "error" in r:
            print(f"{r['name']}: {r['status'].upper()}: {r['error']}", file=sys.stderr)
        elif r["status"] != "pass":
            bad = [o for o in r["outputs"] if not o["pass"]]
            for o in bad:
                dev = f", device-io run {fmt(o['device_io_rel_error'], '.3g')}" if "device_io_rel_error" in o else ""
                print(f"{r['name']}: MISMATCH output '{o['name']}': relative error {fmt(o['rel_error'], '.3g')} "
                      f"(last run {fmt(o.get('last_run_rel_error'), '.3g')}{dev}) > tolerance {r['tolerance']:g}; "
                      f"max |diff| {fmt(o['max_abs_diff'], '.3g')}, max |reference| {o['reference_max_abs']:.3g}",
                      file=sys.stderr)
        else:
            print(f"{r['name']}: PASS (relative error {fmt(r['rel_error'], '.3g')} <= {r['tolerance']:g}"
                  + ("" if r.get("repeat_bitwise_identical", True) else "; repeated runs differ bitwise") + ")")


def machine_info():
    info = {"host": platform.node(), "machine": platform.machine(), "python": platform.python_version(),
            "numpy": np.__version__}
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30).stdout.decode()
            info["gpus"] = [line.strip() for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def overall_code(results):
    codes = {r["exit_code"] for r in results}
    for code in (EXIT_RUNTIME, EXIT_BAD_INPUT, EXIT_MISMATCH):
        if code in codes:
            return code
    return EXIT_PASS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", nargs="?", help="artifact directory (single-case mode)")
    parser.add_argument("--input", action="append", metavar="[NAME=]FILE.npy", help="input data (repeatable)")
    parser.add_argument("--reference", action="append", metavar="[NAME=]FILE.npy",
                        help="expected output (repeatable)")
    parser.add_argument("--name", help="case name (default: the artifact folder's name)")
    parser.add_argument("--manifest", help="run every case of this manifest.json")
    parser.add_argument("--cases", help="manifest mode: comma-separated subset of the cases")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest relative error max|got-ref|/max|ref| that passes (default 1e-3)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs before timing (default 5)")
    parser.add_argument("--iterations", type=int, default=50, help="timed runs (default 50)")
    parser.add_argument("--threads", type=int, help="leip_context_set_threads (CPU artifacts; default: not called)")
    parser.add_argument("--device_io", action="store_true",
                        help="CUDA artifacts: also run with inputs/outputs in GPU memory (leip_context_run_device "
                             "on torch CUDA tensors; needs torch) and time that too, without the copies")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--case_timeout", type=float, default=600, help="manifest mode: seconds per case")
    parser.add_argument("--in_process", action="store_true", help="manifest mode: run cases in this process")
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)  # child of manifest mode
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return EXIT_PASS if e.code == 0 else EXIT_BAD_INPUT
    if args.warmup < 0 or args.iterations < 1 or not args.tolerance >= 0:
        print("gpu_check: --warmup must be >= 0, --iterations >= 1, --tolerance >= 0", file=sys.stderr)
        return EXIT_BAD_INPUT
    if (args.manifest is None) == (args.artifact is None):
        print("gpu_check: give an artifact directory or --manifest FILE (not both)", file=sys.stderr)
        return EXIT_BAD_INPUT

    absent = []
    try:
        if args.manifest:
            if args.input or args.reference:
                raise CheckError(EXIT_BAD_INPUT, "--input/--reference do not apply to --manifest")
            selected = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else None
            cases, absent = load_manifest(args.manifest, selected)
            if not cases:
                raise CheckError(EXIT_BAD_INPUT, f"none of the cases of {args.manifest} is present "
                                                 f"(absent: {', '.join(absent)})")
        else:
            if args.cases:
                raise CheckError(EXIT_BAD_INPUT, "--cases applies to --manifest only")
            name = args.name or os.path.basename(os.path.normpath(args.artifact))
            cases = [{"name": name, "artifact": args.artifact, "inputs": parse_named(args.input),
                      "references": parse_named(args.reference)}]
    except CheckError as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        return e.code

    machine = machine_info()
    if not args.quiet:
        print(f"gpu_check: python {machine['python']}, numpy {machine['numpy']}, {machine['machine']}; GPU: "
              + ("; ".join(machine.get("gpus", [])) or "none seen by nvidia-smi"), flush=True)
    results = []
    for case in cases:
        if not args.quiet:
            print(f"gpu_check: {case['name']} ({case['artifact']}) ...", flush=True)
        if args.manifest and not args.in_process:
            results.append(run_case_in_child(case, args))
        else:
            results.append(run_case(case, args))
    if args.json:
        report = {"tolerance": args.tolerance, "warmup": args.warmup, "iterations": args.iterations,
                  "machine": machine, "cases": results, "absent": absent}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    if not args.quiet:
        print_table(results, absent)
    code = overall_code(results)
    if not args.quiet:
        passed = sum(r["status"] == "pass" for r in results)
        print(f"gpu_check: {passed}/{len(results)} case(s) passed" +
              (f", {len(absent)} absent" if absent else "") + f"; exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
