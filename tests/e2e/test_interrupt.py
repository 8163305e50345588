"""Nothing lost (docs/reliability.md, "Interrupted runs"): `leip compile` of torchvision
resnet18 into a folder that already holds an artifact (fmnist_cnn's), interrupted with
SIGINT and SIGTERM early (loading the model), mid-compile (the output being staged: the
object file is written) and during the final write (the library is linked, the schema
written, the folder swapped in). Each time the process exits with 130/143 (or 0 when the
signal came after the swap), and the folder holds either the complete old artifact, byte for
byte, or the complete new one (its two files, a schema whose checksum the library vouches
for: `leip benchmark` loads it), and no .partial-* folder remains. A compile killed with
SIGKILL (no handler runs) leaves its .partial-<pid> folder, which the next leip removes.
"""

import hashlib
import json
import os
import signal
import subprocess
import time
import unittest

import e2e_common as e2e

ARTIFACT_FILES = ["modelLibrary.so", "model_schema.json"]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def file_hashes(folder):
    return {name: hashlib.sha256(read_bytes(os.path.join(folder, name))).hexdigest()
            for name in sorted(os.listdir(folder))}


def handlers_installed(pid):
    """Whether the process catches SIGINT and SIGTERM (SigCgt in /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return all(caught >> (sig - 1) & 1 for sig in (signal.SIGINT, signal.SIGTERM))


class InterruptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.work_dir("interrupt")
        cls.resnet = e2e.torchvision_model("resnet18")
        cls.cnn = e2e.example_model("fmnist_cnn")
        cls.out = os.path.join(cls.work, "artifact")

    def compile_old(self):
        """DIR := fmnist_cnn's artifact; returns its file hashes."""
        result = e2e.leip("compile", "--input_path", self.cnn, "--output_path", self.out)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        return file_hashes(self.out)

    def start_new(self):
        return subprocess.Popen([e2e.leip_bin(), "compile", "--input_path", self.resnet, "--output_path", self.out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def wait_for(self, proc, predicate, what):
        """Polls until predicate() or the process ends; True when predicate() came first."""
        deadline = time.monotonic() + e2e.scaled(e2e.COMMAND_TIMEOUT_S)
        while time.monotonic() < deadline:
            if predicate():
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.002)
        proc.kill()
        raise AssertionError(f"leip compile never reached {what}")

    def partial(self, proc):
        return f"{self.out}.partial-{proc.pid}"

    def assert_old_or_new(self, old, rc, stderr, sig, point):
        context = f"{signal.Signals(sig).name} at {point}: exit {rc}\n{stderr}"
        leftovers = sorted(n for n in os.listdir(self.work) if n != "artifact")
        self.assertEqual(leftovers, [], context)
        self.assertEqual(sorted(os.listdir(self.out)), ARTIFACT_FILES, context)
        if rc == 128 + sig:
            self.assertIn("partial output removed", stderr, context)
            self.assertEqual(file_hashes(self.out), old, "the old artifact changed\n" + context)
            return "old"
        self.assertEqual(rc, 0, context)  # the signal came after the swap: the new artifact
        result = e2e.leip("benchmark", "--input_path", self.out, "--iterations", "1", "--warmup", "0")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe() + "\n" + context)
        schema = json.loads(read_bytes(os.path.join(self.out, "model_schema.json")))
        self.assertEqual(schema["inputs"][0]["shape"], [1, 3, 224, 224], context)
        return "new"

    def test_signals_at_several_points(self):
        points = {
            # As soon as main() has installed the handlers (before that, the default action
            # kills the process, which has written nothing): reading the model.
            "early": lambda proc: self.wait_for(proc, lambda: handlers_installed(proc.pid), "main()"),
            "mid": lambda proc: self.wait_for(proc, lambda: os.path.isdir(self.partial(proc)), "the staged output"),
            "final write": lambda proc: self.wait_for(
                proc, lambda: os.path.exists(os.path.join(self.partial(proc), "modelLibrary.so")), "the link"),
        }
        outcomes = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            for point, reach in points.items():
                with self.subTest(signal=sig.name, point=point):
                    old = self.compile_old()
                    proc = self.start_new()
                    reached = reach(proc)
                    if reached:
                        proc.send_signal(sig)
                    _, stderr = proc.communicate(timeout=e2e.scaled(e2e.COMMAND_TIMEOUT_S))
                    outcome = self.assert_old_or_new(old, proc.returncode, stderr.decode("utf-8", "replace"),
                                                     sig, point)
                    outcomes.append((sig.name, point, outcome))
        e2e.log(f"outcomes: {outcomes}")
        # Most interruptions land before the swap; a test where none did would prove nothing.
        self.assertGreaterEqual(sum(o == "old" for _, _, o in outcomes), 4, outcomes)

    def test_sigkill_leftovers_are_removed_by_the_next_run(self):
        self.compile_old()
        proc = self.start_new()
        self.assertTrue(self.wait_for(proc, lambda: os.path.isdir(self.partial(proc)), "the staged output"))
        proc.kill()
        proc.communicate()
        self.assertTrue(os.path.isdir(self.partial(proc)), "SIGKILL runs no handler: the folder should remain")
        # One of a live process (this test's own pid) must be left alone.
        live = f"{self.out}.partial-{os.getpid()}"
        os.makedirs(live)
        old = self.compile_old()
        self.assertEqual(old, file_hashes(self.out))
        self.assertFalse(os.path.exists(self.partial(proc)), os.listdir(self.work))
        self.assertTrue(os.path.isdir(live))
        os.rmdir(live)

    def test_uninterrupted_compile_replaces_the_old_artifact(self):
        old = self.compile_old()
        result = e2e.leip("compile", "--input_path", self.resnet, "--output_path", self.out)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertEqual(self.assert_old_or_new(old, 0, result.stderr, signal.SIGINT, "never"), "new")


if __name__ == "__main__":
    unittest.main()
