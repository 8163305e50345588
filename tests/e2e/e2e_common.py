"""Shared helpers for leip's end-to-end tests of the `leip` command line.

The tests are run by ctest (tests/e2e/CMakeLists.txt), which passes:

  LEIP_BIN          the leip executable under test
  LEIP_SOURCE_DIR   the source tree (models/, tools/)
  LEIP_E2E_WORK     a scratch folder for this test (emptied at the start)
  LEIP_MODELS_DIR   where the torchvision export fixture writes resnet18.onnx, mobilenet_v2.onnx
  LEIP_VERSION      the project version (`leip --version` must print it)

To run one by hand:
  LEIP_BIN=build/src/cli/leip LEIP_SOURCE_DIR=$PWD LEIP_E2E_WORK=/tmp/e2e \
  LEIP_MODELS_DIR=build/models /usr/bin/python3 -m unittest -v tests/e2e/test_inspect.py

Nothing here skips: a missing tool (node, onnxruntime-node, the leip binary, a model) is a
test failure with a message saying how to get it (bash tools/install-deps.sh).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np

# Exit codes of every leip command (include/leip/support/Error.h).
EXIT_OK, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

# The three trained Fashion-MNIST examples (tools/train_examples.py): input 'input'
# float32 [N,1,28,28] with a dynamic batch, output 'logits' [N,10].
EXAMPLE_MODELS = ("fmnist_cnn", "fmnist_mobilenetv2", "fmnist_resnet")
# torchvision exports with random weights (tools/export_torchvision.py): input 'input'
# [1,3,224,224], output 'output' [1,1000].
TORCHVISION_MODELS = ("resnet18", "mobilenet_v2")

# Generous per-command limit: the interpreter runs resnet18 in a few seconds.
COMMAND_TIMEOUT_S = 180
# Sanitized builds (tools/test-sanitized.sh) run several times slower: every time limit and
# time bound in these tests is multiplied by LEIP_TEST_TIMEOUT_SCALE, which ctest passes in.
TIMEOUT_SCALE = float(os.environ.get("LEIP_TEST_TIMEOUT_SCALE", "1"))


def scaled(seconds):
    """A time limit or bound of SECONDS on an unsanitized build, for this build."""
    return seconds * TIMEOUT_SCALE


class SetupError(AssertionError):
    """Something the tests need is missing; raised as a failure, never a skip."""


def env(name):
    value = os.environ.get(name)
    if not value:
        raise SetupError(f"environment variable {name} is not set; run these tests through ctest "
                         f"(cd build && ctest -R e2e) or set it as e2e_common.py describes")
    return value


def leip_bin():
    path = env("LEIP_BIN")
    if not os.access(path, os.X_OK):
        raise SetupError(f"LEIP_BIN={path} is not an executable; build it: cmake --build build --target leip")
    return path


def source_dir():
    return env("LEIP_SOURCE_DIR")


def work_dir(sub):
    """A fresh, empty scratch folder LEIP_E2E_WORK/<sub>."""
    path = os.path.join(env("LEIP_E2E_WORK"), sub)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def example_model(name):
    path = os.path.join(source_dir(), "models", name + ".onnx")
    if not os.path.isfile(path):
        raise SetupError(f"{path} is missing: the example models are committed; train them with "
                         f"/usr/bin/python3 tools/train_examples.py")
    return path


def torchvision_model(name):
    path = os.path.join(env("LEIP_MODELS_DIR"), name + ".onnx")
    if not os.path.isfile(path):
        raise SetupError(f"{path} is missing: the ctest fixture e2e_export_torchvision writes it "
                         f"(/usr/bin/python3 tools/export_torchvision.py --output_dir DIR)")
    return path


class Result:
    """What a command did: exit code, stdout, stderr (decoded leniently), and the command."""

    def __init__(self, args, proc):
        self.args = args
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", "replace")
        self.stderr = proc.stderr.decode("utf-8", "replace")

    def describe(self):
        return (f"command: {' '.join(self.args)}\nexit code: {self.rc}\n"
                f"stdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}")


def run_command(args, timeout=COMMAND_TIMEOUT_S):
    args = [str(a) for a in args]
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(timeout),
                          stdin=subprocess.DEVNULL)
    return Result(args, proc)


def leip(*args, timeout=COMMAND_TIMEOUT_S):
    return run_command([leip_bin(), *args], timeout=timeout)


def ort_tool(script, args, timeout=COMMAND_TIMEOUT_S):
    """Runs one of the ONNX Runtime oracles in tools/ (node SCRIPT ARGS); fails loudly when it cannot."""
    node = shutil.which("node")
    if node is None:
        raise SetupError("node (Node.js) is not on PATH; it runs the ONNX Runtime oracle: bash tools/install-deps.sh")
    result = run_command([node, os.path.join(source_dir(), "tools", script), *args], timeout=timeout)
    if result.rc != 0:
        raise SetupError("the ONNX Runtime oracle failed (is onnxruntime-node installed? "
                         "bash tools/install-deps.sh)\n" + result.describe())
    return result


def ort_run(model, out_dir, inputs):
    """Runs the model in ONNX Runtime (tools/ort_run.js), writing each output to OUT_DIR/<name>.npy."""
    return ort_tool("ort_run.js", [model, out_dir, *inputs])


def ort_accuracy(model, images, labels, *options, timeout=COMMAND_TIMEOUT_S):
    """{"correct", "top1", "top5", "images", ...} from tools/ort_accuracy.js with `options`
    (e.g. --batch=1, --opt_level=all)."""
    return json.loads(ort_tool("ort_accuracy.js", [*options, model, images, labels], timeout).stdout)


def fmnist_module():
    """tools/fmnist.py (needs dataset-fashion-mnist)."""
    tools = os.path.join(source_dir(), "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import fmnist  # noqa: E402 (tools/ is not a package)
    return fmnist


def save_npy(path, array):
    np.save(path, array)
    return path


def read_outputs(directory):
    """{file name without .npy: array} for every file in `directory` (all must be .npy)."""
    outputs = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".npy"):
            raise AssertionError(f"{directory} holds {name!r}, which is not an output .npy")
        outputs[name[:-4]] = np.load(os.path.join(directory, name))
    return outputs


def relative_error(got, want):
    """max|got - want| / max|want| in float64 (inf when want is all zeros and got is not)."""
    got = got.astype(np.float64)
    want = want.astype(np.float64)
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / scale


def log(message):
    """Progress lines in the ctest log (stderr, next to unittest's own -v output)."""
    print(message, file=sys.stderr, flush=True)
