"""Hostile models (issue 9, docs/reliability.md "Hostile models and resource limits").

Models built to hurt a loader: tensors that declare enormous sizes, shapes whose element
count overflows 64 bits, a constant folded into terabytes, cycles, duplicate and missing
names, ops and opsets newer than leip supports, subgraphs nested thousands deep and protobuf
messages nested deeper still. Each must be refused by `leip inspect`, `leip compile` and
(where it has inputs) `leip run` with exit code 2, one stderr line naming what is wrong, in
bounded time, under the --max_memory cap, with no output directory left behind. Cases that
test_bad_input.py already covers (truncated and random bytes, opset 18 Relu, external data)
are not repeated here.
"""

import os
import shutil
import time
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import e2e_common as e2e

CRASH_CODES = (134, 139)  # SIGABRT / SIGSEGV as reported by a shell
# Every refusal happens while loading; a few seconds at most even on a loaded 2-core machine.
MAX_SECONDS = e2e.scaled(10)


def _model(nodes, inputs, outputs, initializers=(), opset=17, value_info=()):
    graph = helper.make_graph(nodes, "hostile", inputs, outputs, initializer=list(initializers),
                              value_info=list(value_info))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="leip-e2e")


def _f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _raw_tensor(name, dims, raw):
    """A float TensorProto whose dims say what they like, whatever data it holds (onnx's
    make_tensor checks that they agree)."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, raw_data=raw)
    tensor.dims.extend(dims)
    return tensor


# ---- Raw protobuf encoding, for messages nested deeper than Python's onnx helpers handle.

def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):
    """A length-delimited field (wire type 2)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int_field(number, value):
    return _varint(number << 3) + _varint(value)


def _model_bytes(graph):
    """ModelProto: ir_version 8, opset 17 of the default domain, the graph."""
    opset = _field(1, "") + _int_field(2, 17)
    return _int_field(1, 8) + _field(8, opset) + _field(7, graph)


def _key(number):
    return _varint(number << 3 | 2)


def _nest(core, levels):
    """Wraps `core` in len(levels) messages, innermost first; each level is a function of the
    inner length returning (prefix, suffix). Linear in the result's size (building it by
    repeated concatenation would be quadratic)."""
    prefixes, suffixes, length = [], [], len(core)
    for level in levels:
        prefix, suffix = level(length)
        prefixes.append(prefix)
        suffixes.append(suffix)
        length += len(prefix) + len(suffix)
    return b"".join(reversed(prefixes)) + core + b"".join(suffixes)


def _nested_if_model(depth):
    """An If whose then_branch holds an If whose then_branch ... `depth` levels deep."""

    def if_level(level):
        def wrap(graph_length):
            # GraphProto{node: NodeProto{..., attribute: AttributeProto{name, g: <inner>, type GRAPH}}, name}
            attr_prefix = _field(1, "then_branch") + _key(6) + _varint(graph_length)
            attr_suffix = _int_field(20, 5)
            attr_length = len(attr_prefix) + graph_length + len(attr_suffix)
            node_head = _field(1, "cond") + _field(2, f"out{level}") + _field(3, f"if_{level}") + _field(4, "If")
            node_prefix = node_head + _key(5) + _varint(attr_length)
            node_length = len(node_prefix) + attr_length
            return _key(1) + _varint(node_length) + node_prefix + attr_prefix, attr_suffix + _field(2, f"g{level + 1}")
        return wrap

    graph = _nest(_field(2, "g0"), [if_level(level) for level in range(depth)])
    bool_type = _field(1, _int_field(1, TensorProto.BOOL))  # TypeProto.tensor_type.elem_type
    graph += _field(11, _field(1, "cond") + _field(2, bool_type))
    graph += _field(12, _field(1, f"out{depth - 1}") + _field(2, _field(1, _int_field(1, TensorProto.FLOAT))))
    return _model_bytes(graph)


def _nested_type_model(depth):
    """A graph input whose type is a sequence of a sequence of ... `depth` levels."""
    tensor = _field(1, _int_field(1, TensorProto.FLOAT))

    def sequence_level(inner_length):  # TypeProto{sequence_type: Sequence{elem_type: <inner>}}
        sequence_length = len(_key(1) + _varint(inner_length)) + inner_length
        return _key(4) + _varint(sequence_length) + _key(1) + _varint(inner_length), b""

    type_proto = _nest(tensor, [sequence_level] * depth)
    value_info = _field(1, "x") + _field(2, type_proto)
    node = _field(1, "x") + _field(2, "y") + _field(4, "Identity")
    graph = _field(1, node) + _field(2, "deep") + _field(11, value_info) + _field(12, _field(1, "y") + _field(2, tensor))
    return _model_bytes(graph)


class HostileModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("hostile")

    def save(self, model_or_bytes, name):
        path = os.path.join(self.dir, name + ".onnx")
        with open(path, "wb") as f:
            f.write(model_or_bytes if isinstance(model_or_bytes, bytes) else model_or_bytes.SerializeToString())
        return path

    def leip_timed(self, *args):
        start = time.monotonic()
        result = e2e.leip(*args, timeout=60)
        return result, time.monotonic() - start

    def assert_refused(self, result, seconds, must_name, out_dir=None):
        self.assertFalse(result.rc < 0 or result.rc in CRASH_CODES, "leip crashed\n" + result.describe())
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, "expected exit code 2 (bad input)\n" + result.describe())
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, "expected exactly one line on stderr\n" + result.describe())
        self.assertIn("error", lines[0])
        self.assertNotIn("internal error", lines[0])
        for name in must_name:
            self.assertIn(name, lines[0], f"the message does not name {name!r}\n" + result.describe())
        self.assertLess(seconds, MAX_SECONDS, f"took {seconds:.1f} s\n" + result.describe())
        if out_dir is not None:
            self.assertFalse(os.path.exists(out_dir), "a refused model left an output directory\n" + result.describe())
        return lines[0]

    def check_refused(self, model, must_name, run_input=None, extra=()):
        """inspect, compile and (given an input .npy) run all refuse the model."""
        name = os.path.basename(model)[:-5]
        result, seconds = self.leip_timed(*extra, "inspect", "--input_path", model)
        line = self.assert_refused(result, seconds, must_name)
        out = os.path.join(self.dir, "compiled_" + name)
        shutil.rmtree(out, ignore_errors=True)
        result, seconds = self.leip_timed(*extra, "compile", "--input_path", model, "--output_path", out)
        self.assert_refused(result, seconds, must_name, out)
        if run_input is not None:
            out = os.path.join(self.dir, "run_" + name)
            shutil.rmtree(out, ignore_errors=True)
            result, seconds = self.leip_timed(*extra, "run", "--input_path", model, "--input", run_input,
                                              "--output_path", out)
            self.assert_refused(result, seconds, must_name, out)
        return line

    # ---- Enormous and overflowing sizes

    def test_initializer_declaring_1e12_elements_with_16_bytes(self):
        huge = _raw_tensor("huge_weights", [1000000, 1000000], b"\0" * 16)
        model = _model([helper.make_node("Add", ["x", "huge_weights"], ["y"])], [_f32("x", [1, 1])],
                       [_f32("y", [1000000, 1000000])], [huge])
        line = self.check_refused(self.save(model, "huge_initializer"), ["huge_weights"])
        self.assertIn("16 bytes", line)

    def test_initializer_whose_element_count_overflows(self):
        dims = [2 ** 40, 2 ** 40]
        huge = _raw_tensor("overflowing_weights", dims, b"")
        model = _model([helper.make_node("Add", ["x", "overflowing_weights"], ["y"])], [_f32("x", [1, 1])],
                       [_f32("y", dims)], [huge])
        self.check_refused(self.save(model, "overflowing_initializer"), ["overflowing_weights"])

    def test_input_with_huge_static_dims(self):
        # 4 * 10^12 bytes: a run would allocate it for the input and again for the output.
        model = _model([helper.make_node("Relu", ["big_input"], ["y"])], [_f32("big_input", [1, 1000, 1000, 1000000])],
                       [_f32("y", [1, 1000, 1000, 1000000])])
        line = self.check_refused(self.save(model, "huge_input"), ["big_input", "--max_memory"])
        self.assertIn("4000000000000 bytes", line)

    def test_input_whose_element_count_overflows(self):
        model = _model([helper.make_node("Relu", ["x"], ["y"])], [_f32("x", [2 ** 31, 2 ** 31, 2 ** 31])],
                       [_f32("y", [2 ** 31, 2 ** 31, 2 ** 31])])
        line = self.check_refused(self.save(model, "overflowing_input"), ["'x'"])
        self.assertIn("64 bits", line)

    def test_constant_folded_into_terabytes(self):
        # ConstantOfShape of a constant shape: folding it would allocate 4 * 10^12 bytes.
        shape = numpy_helper.from_array(np.array([1000, 1000, 1000000], np.int64), "big_shape")
        nodes = [helper.make_node("ConstantOfShape", ["big_shape"], ["filled"], name="fill_terabytes"),
                 helper.make_node("ReduceSum", ["filled"], ["s"], keepdims=0),
                 helper.make_node("Add", ["x", "s"], ["y"])]
        model = _model(nodes, [_f32("x", [1])], [_f32("y", [1])], [shape])
        self.check_refused(self.save(model, "constant_of_shape_terabytes"), ["filled", "fill_terabytes", "--max_memory"])

    def test_shape_overflowing_after_expand(self):
        # Expand to a constant shape whose element count overflows 64 bits.
        target = numpy_helper.from_array(np.array([2 ** 32, 2 ** 32, 2 ** 32], np.int64), "target_shape")
        nodes = [helper.make_node("Expand", ["x", "target_shape"], ["expanded"], name="expand_overflow"),
                 helper.make_node("ReduceSum", ["expanded"], ["y"], keepdims=0)]
        model = _model(nodes, [_f32("x", [1])], [_f32("y", [])], [target])
        line = self.check_refused(self.save(model, "expand_overflow"), ["expand_overflow"])
        self.assertIn("overflows", line)

    def test_empty_tensor_with_a_huge_axis(self):
        # f32[0, 2^60] holds nothing, but kernels keep tables per axis (found by fuzzing).
        target = numpy_helper.from_array(np.array([0, 2 ** 60], np.int64), "empty_shape")
        nodes = [helper.make_node("Expand", ["x", "empty_shape"], ["empty"], name="expand_empty"),
                 helper.make_node("ReduceSum", ["empty"], ["y"], keepdims=0)]
        model = _model(nodes, [_f32("x", [1])], [_f32("y", [])], [target])
        line = self.check_refused(self.save(model, "empty_huge_axis"), ["expand_empty", "--max_memory"])
        self.assertIn(str(2 ** 60), line)

    # ---- --max_memory

    def test_max_memory_refuses_and_allows(self):
        # A 4 MiB input: refused under --max_memory 1M, run under 64M.
        model = _model([helper.make_node("Relu", ["image"], ["y"])], [_f32("image", [1, 1024, 1024])],
                       [_f32("y", [1, 1024, 1024])])
        path = self.save(model, "four_mib_input")
        line = self.check_refused(path, ["image", "4194304 bytes", "--max_memory", "1.0 MiB"], extra=["--max_memory", "1M"])
        self.assertIn("f32[1,1024,1024]", line)
        result = e2e.leip("--max_memory", "64M", "inspect", "--input_path", path)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        # The option is global: it may follow the command too.
        result = e2e.leip("inspect", "--input_path", path, "--max_memory", "2M")
        self.assertEqual(result.rc, e2e.EXIT_BAD_INPUT, result.describe())

    def test_max_memory_bad_values_are_usage_errors(self):
        model = e2e.example_model("fmnist_cnn")
        for value in ("lots", "12Q", "0", "-5G"):
            result = e2e.leip("--max_memory", value, "inspect", "--input_path", model)
            self.assertEqual(result.rc, e2e.EXIT_USAGE, f"--max_memory {value}\n" + result.describe())
            self.assertIn("--max_memory", result.stderr)

    def test_max_memory_in_help(self):
        result = e2e.leip("--help")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        self.assertIn("--max_memory", result.stdout)
        self.assertIn("75%", result.stdout)

    # ---- Graph structure

    def test_cycle(self):
        nodes = [helper.make_node("Add", ["x", "b_out"], ["a_out"], name="cycle_a"),
                 helper.make_node("Relu", ["a_out"], ["b_out"], name="cycle_b")]
        model = _model(nodes, [_f32("x", [4])], [_f32("a_out", [4])])
        line = self.check_refused(self.save(model, "cycle"), ["cycle"])
        self.assertRegex(line, r"cycle_[ab]")

    def test_duplicate_node_output(self):
        nodes = [helper.make_node("Relu", ["x"], ["dup_value"], name="first_writer"),
                 helper.make_node("Sigmoid", ["x"], ["dup_value"], name="second_writer")]
        model = _model(nodes, [_f32("x", [4])], [_f32("dup_value", [4])])
        self.check_refused(self.save(model, "duplicate_output"), ["dup_value", "already defined"])

    def test_node_output_shadowing_an_initializer(self):
        weights = numpy_helper.from_array(np.ones(4, np.float32), "shadowed")
        nodes = [helper.make_node("Relu", ["x"], ["shadowed"], name="shadowing_node")]
        model = _model(nodes, [_f32("x", [4])], [_f32("shadowed", [4])], [weights])
        self.check_refused(self.save(model, "shadowed_initializer"), ["shadowed", "shadowing_node"])

    def test_duplicate_initializer(self):
        inits = [numpy_helper.from_array(np.ones(4, np.float32), "twice"),
                 numpy_helper.from_array(np.zeros(4, np.float32), "twice")]
        model = _model([helper.make_node("Add", ["x", "twice"], ["y"])], [_f32("x", [4])], [_f32("y", [4])], inits)
        self.check_refused(self.save(model, "duplicate_initializer"), ["twice", "defined twice"])

    def test_missing_initializer(self):
        nodes = [helper.make_node("Conv", ["x", "conv_weights_gone"], ["y"], name="conv_without_weights")]
        model = _model(nodes, [_f32("x", [1, 1, 4, 4])], [_f32("y", [1, 1, 2, 2])])
        self.check_refused(self.save(model, "missing_initializer"), ["conv_weights_gone", "conv_without_weights"])

    def test_graph_output_not_produced(self):
        model = _model([helper.make_node("Relu", ["x"], ["y"])], [_f32("x", [4])], [_f32("nowhere", [4])])
        self.check_refused(self.save(model, "missing_output"), ["nowhere"])

    # ---- Newer opsets and ops (test_bad_input.py covers an opset-18 import of Relu)

    def test_opset_21_import(self):
        model = _model([helper.make_node("Relu", ["x"], ["y"])], [_f32("x", [4])], [_f32("y", [4])], opset=21)
        line = self.check_refused(self.save(model, "opset21"), ["21"])
        self.assertIn("opset", line)

    def test_opset_18_op_under_an_opset_17_import(self):
        # BitwiseAnd first exists in opset 18.
        ints = lambda n: helper.make_tensor_value_info(n, TensorProto.INT32, [4])
        model = _model([helper.make_node("BitwiseAnd", ["a", "b"], ["y"], name="bitwise_node")],
                       [ints("a"), ints("b")], [ints("y")])
        self.check_refused(self.save(model, "opset18_op"), ["BitwiseAnd"])

    def test_opset_18_op_with_opset_18_import(self):
        # GroupNormalization (opset 18) in a model that imports opset 18: refused for the opset.
        scale = numpy_helper.from_array(np.ones(2, np.float32), "gn_scale")
        bias = numpy_helper.from_array(np.zeros(2, np.float32), "gn_bias")
        model = _model([helper.make_node("GroupNormalization", ["x", "gn_scale", "gn_bias"], ["y"], num_groups=2)],
                       [_f32("x", [1, 2, 2, 2])], [_f32("y", [1, 2, 2, 2])], [scale, bias], opset=18)
        self.check_refused(self.save(model, "group_norm_opset18"), ["18"])

    # ---- Recursion

    def test_subgraphs_nested_20_deep(self):
        # Within protobuf's nesting limit: compile refuses the If (leip has no subgraphs),
        # naming the node; inspect, which lists unsupported ops, runs ONNX's checker through
        # the 20 levels and may show the model or refuse it, but in bounded time.
        model = self.save(_nested_if_model(20), "if_nested_20")
        out = os.path.join(self.dir, "compiled_if_nested_20")
        result, seconds = self.leip_timed("compile", "--input_path", model, "--output_path", out)
        line = self.assert_refused(result, seconds, ["If"], out)
        self.assertIn("if_19", line)
        result, seconds = self.leip_timed("inspect", "--input_path", model)
        self.assertIn(result.rc, (e2e.EXIT_OK, e2e.EXIT_BAD_INPUT), result.describe())
        self.assertLess(seconds, MAX_SECONDS)

    def test_subgraphs_nested_5000_deep(self):
        # 15,000 nested messages: protobuf stops at 100 levels instead of overflowing the stack.
        line = self.check_refused(self.save(_nested_if_model(5000), "if_nested_5000"), ["nest"])
        self.assertIn("100", line)

    def test_types_nested_100000_deep(self):
        line = self.check_refused(self.save(_nested_type_model(100000), "type_nested_100000"), ["nest"])
        self.assertIn("100", line)


if __name__ == "__main__":
    unittest.main(verbosity=2)
