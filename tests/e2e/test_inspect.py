"""`leip inspect` against facts computed independently from the ONNX file with the onnx package.

For each example model: input/output names and shapes (a dynamic batch shown as 1; output
shapes from ONNX's own shape inference), parameters (tensor elements of initializers and
Constant nodes, which leip's importer turns into constants), the op histogram (node op types,
Constant nodes excluded), FLOPs between 2 x the MACs of Conv/Gemm/MatMul and that plus every
other node's input and output elements; and the text form. A model with an unsupported op is
listed, with exit code 0.
"""

import collections
import json
import os
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import e2e_common as e2e

MAC_OPS = ("Conv", "Gemm", "MatMul")


def _dims(value_info):
    """Declared dims of a ValueInfoProto: ints, None where dynamic."""
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]


class ModelFacts:
    """What leip inspect should report for `path`, computed with the onnx package alone."""

    def __init__(self, path):
        model = onnx.load(path)
        graph = model.graph
        init_names = {t.name for t in graph.initializer}
        self.opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        self.inputs = [i for i in graph.input if i.name not in init_names]
        self.input_names = [i.name for i in self.inputs]
        self.output_names = [o.name for o in graph.output]
        constant_nodes = [n for n in graph.node if n.op_type == "Constant"]
        self.initializer_params = sum(int(np.prod(t.dims)) for t in graph.initializer)
        self.constant_node_params = sum(int(numpy_helper.to_array(a.t).size)
                                        for n in constant_nodes for a in n.attribute if a.name == "value")
        self.parameters = self.initializer_params + self.constant_node_params
        self.ops = dict(collections.Counter(n.op_type for n in graph.node if n.op_type != "Constant"))

        # Static shapes: the dynamic batch dim becomes 1 (what leip does without --input_shapes).
        self.input_shapes = []
        for i in self.inputs:
            dims = _dims(i)
            assert all(d is not None for d in dims[1:]), f"{path}: {i.name} has a dynamic non-batch dim"
            dims = [1 if d is None else d for d in dims]
            self.input_shapes.append(dims)
            for d, v in zip(i.type.tensor_type.shape.dim, dims):
                d.dim_value = v
        for o in graph.output:
            o.type.tensor_type.ClearField("shape")
        del graph.value_info[:]
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        shapes = {t.name: list(t.dims) for t in inferred.graph.initializer}
        for n in constant_nodes:
            shapes[n.output[0]] = list(numpy_helper.to_array(n.attribute[0].t).shape)
        for v in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
            shapes[v.name] = _dims(v)
        self.output_shapes = [shapes[o] for o in self.output_names]

        def elements(name):
            return int(np.prod(shapes[name])) if name else 0

        macs, other = 0, 0
        for n in inferred.graph.node:
            if n.op_type == "Constant":
                continue
            if n.op_type == "Conv":
                w = shapes[n.input[1]]
                macs += elements(n.output[0]) * int(np.prod(w[1:]))
            elif n.op_type == "Gemm":
                a = shapes[n.input[0]]
                trans_a = any(at.name == "transA" and at.i for at in n.attribute)
                macs += elements(n.output[0]) * (a[0] if trans_a else a[1])
            elif n.op_type == "MatMul":
                macs += elements(n.output[0]) * shapes[n.input[0]][-1]
            else:
                other += sum(elements(x) for x in n.input) + sum(elements(y) for y in n.output)
        self.flops_low = 2 * macs
        self.flops_high = 2 * macs + other


class InspectExampleModelsTest(unittest.TestCase):

    def inspect_json(self, model, *extra):
        result = e2e.leip("inspect", "--input_path", model, "--json", *extra)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError as e:
            self.fail(f"inspect --json printed no JSON ({e})\n{result.describe()}")

    def check_json(self, name):
        path = e2e.example_model(name)
        facts = ModelFacts(path)
        info = self.inspect_json(path)
        print(f"{name}: parameters {info.get('parameters')} (initializers {facts.initializer_params}, "
              f"Constant nodes {facts.constant_node_params}), flops {info.get('flops')} "
              f"(expected {facts.flops_low}..{facts.flops_high}), {info.get('nodes')} nodes", flush=True)

        self.assertEqual(info["opset"], facts.opset)
        self.assertEqual([i["name"] for i in info["inputs"]], facts.input_names)
        self.assertEqual([i["shape"] for i in info["inputs"]], facts.input_shapes)
        self.assertEqual([i["dtype"] for i in info["inputs"]], ["f32"] * len(facts.inputs))
        # The example models declare a dynamic batch: [?,1,28,28] comes out as [null,1,28,28].
        for entry, bound in zip(info["inputs"], facts.input_shapes):
            self.assertEqual(entry["declared_shape"], [None] + bound[1:])
        self.assertEqual([o["name"] for o in info["outputs"]], facts.output_names)
        self.assertEqual([o["shape"] for o in info["outputs"]], facts.output_shapes)
        self.assertEqual(info["parameters"], facts.parameters)
        self.assertEqual(info["ops"], facts.ops)
        self.assertEqual(info["nodes"], sum(facts.ops.values()))
        self.assertEqual(info["unsupported_ops"], [])
        self.assertIsInstance(info["flops"], int)
        self.assertGreater(info["flops"], 0)
        self.assertGreaterEqual(info["flops"], facts.flops_low, "FLOPs below 2 x the Conv/Gemm/MatMul MACs")
        self.assertLessEqual(info["flops"], facts.flops_high, "FLOPs above any per-element count of the rest")

        # --input_shapes fixes the batch: shapes and FLOPs follow it.
        batch4 = self.inspect_json(path, "--input_shapes", "4,1,28,28")
        self.assertEqual(batch4["inputs"][0]["shape"], [4, 1, 28, 28])
        self.assertEqual(batch4["outputs"][0]["shape"], [4] + facts.output_shapes[0][1:])
        self.assertEqual(batch4["flops"], 4 * info["flops"])
        self.assertEqual(batch4["parameters"], info["parameters"])

    def check_text(self, name):
        path = e2e.example_model(name)
        facts = ModelFacts(path)
        result = e2e.leip("inspect", "--input_path", path)
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        text = result.stdout
        for input_name in facts.input_names:
            self.assertIn(input_name, text)
        for output_name in facts.output_names:
            self.assertIn(output_name, text)
        self.assertIn("unsupported: none", text)
        self.assertIn(f"{facts.parameters:,}", text, "the text does not show the parameter count")
        for op in facts.ops:
            self.assertRegex(text, rf"\n\s*{op}\s+{facts.ops[op]}\n", f"the text does not list op {op}")
        self.assertEqual(result.stderr, "", "inspect wrote to stderr")


def _add_example_tests():
    for name in e2e.EXAMPLE_MODELS:
        setattr(InspectExampleModelsTest, f"test_{name}_json", lambda self, n=name: self.check_json(n))
        setattr(InspectExampleModelsTest, f"test_{name}_text", lambda self, n=name: self.check_text(n))


_add_example_tests()


class InspectSmallModelsTest(unittest.TestCase):
    """Models built here with onnx.helper."""

    @classmethod
    def setUpClass(cls):
        cls.dir = e2e.work_dir("models")

    def save(self, name, nodes, inputs, outputs, extra_opsets=()):
        graph = helper.make_graph(nodes, name, inputs, outputs)
        imports = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
        model = helper.make_model(graph, opset_imports=imports)
        onnx.checker.check_model(model)
        path = os.path.join(self.dir, name + ".onnx")
        onnx.save(model, path)
        return path

    def test_unsupported_op_is_listed(self):
        f32 = TensorProto.FLOAT
        path = self.save("custom", [helper.make_node("Relu", ["x"], ["a"]),
                                    helper.make_node("LeipNoSuchOp", ["a"], ["b"], name="custom_fused",
                                                     domain="com.microsoft"),
                                    helper.make_node("Relu", ["b"], ["y"])],
                         [helper.make_tensor_value_info("x", f32, [1, 8])],
                         [helper.make_tensor_value_info("y", f32, [1, 8])],
                         extra_opsets=[("com.microsoft", 1)])
        result = e2e.leip("inspect", "--input_path", path, "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        info = json.loads(result.stdout)
        self.assertEqual(len(info["unsupported_ops"]), 1, result.describe())
        self.assertIn("LeipNoSuchOp", info["unsupported_ops"][0])
        self.assertIn("com.microsoft", info["unsupported_ops"][0])
        self.assertEqual(info["ops"], {"LeipNoSuchOp": 1, "Relu": 2})
        self.assertEqual(info["nodes"], 3)
        self.assertEqual([i["name"] for i in info["inputs"]], ["x"])

        text = e2e.leip("inspect", "--input_path", path)
        self.assertEqual(text.rc, e2e.EXIT_OK, text.describe())
        self.assertRegex(text.stdout, r"unsupported: .*LeipNoSuchOp")
        self.assertNotIn("unsupported: none", text.stdout)

    def test_nonzero_is_listed(self):
        path = self.save("nonzero", [helper.make_node("NonZero", ["x"], ["idx"], name="find_nonzero")],
                         [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                         [helper.make_tensor_value_info("idx", TensorProto.INT64, [1, "K"])])
        result = e2e.leip("inspect", "--input_path", path, "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        info = json.loads(result.stdout)
        self.assertEqual(info["unsupported_ops"], ["NonZero"])
        self.assertEqual(info["ops"], {"NonZero": 1})

    def test_constant_nodes_become_parameters(self):
        # Constant nodes are not ops to leip: their tensors are constants like initializers.
        value = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "c")
        path = self.save("constant", [helper.make_node("Constant", [], ["c"], value=value),
                                      helper.make_node("Add", ["x", "c"], ["y"])],
                         [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
        result = e2e.leip("inspect", "--input_path", path, "--json")
        self.assertEqual(result.rc, e2e.EXIT_OK, result.describe())
        info = json.loads(result.stdout)
        self.assertEqual(info["ops"], {"Add": 1})
        self.assertEqual(info["nodes"], 1)
        self.assertEqual(info["parameters"], 6)
        self.assertEqual(info["flops"], 6)
        self.assertEqual(info["outputs"][0]["shape"], [2, 3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
