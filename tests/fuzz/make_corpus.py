#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/TARGET/), small on purpose
(a few KB per file): tiny ONNX models over the op families leip supports, .npy files of every
dtype and format version, PNG/JPEG/BMP images, the example recipes, and index.txt files that
name the samples the index target writes next to them (a.npy, b.png).

Run with Debian's python (onnx, numpy, PIL): /usr/bin/python3 tests/fuzz/make_corpus.py
"""

import io
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def out_dir(target):
    path = os.path.join(HERE, "corpus", target)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def save_model(d, name, nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="leip-fuzz")
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(d, name + ".onnx"))


def onnx_seeds():
    d = out_dir("onnx_loader")
    rng = np.random.default_rng(1)
    w = lambda *s: rng.standard_normal(s).astype(np.float32)
    save_model(d, "conv_relu_pool_gemm", [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "gw", "gb"], ["y"], transB=1),
        helper.make_node("Softmax", ["y"], ["prob"]),
    ], [f32("x", ["N", 1, 4, 4])], [f32("prob", ["N", 3])],
        [init("cw", w(2, 1, 3, 3)), init("cb", w(2)), init("s", w(2)), init("b", w(2)), init("m", w(2)),
         init("v", np.abs(w(2)) + 1), init("gw", w(3, 8)), init("gb", w(3))])
    save_model(d, "shape_arithmetic", [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus1"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["x", "newshape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["t"], perm=[1, 0]),
        helper.make_node("ReduceMean", ["t"], ["y"], axes=[0], keepdims=0),
    ], [f32("x", ["N", 2, 3])], [f32("y", ["N"])],
        [init("zero", np.array(0, np.int64)), init("axes", np.array([0], np.int64)),
         init("minus1", np.array([-1], np.int64))])
    save_model(d, "constant_folding", [
        helper.make_node("ConstantOfShape", ["shape"], ["ones"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
        helper.make_node("Expand", ["ones", "shape"], ["e"]),
        helper.make_node("Add", ["x", "e"], ["a"]),
        helper.make_node("Slice", ["a", "starts", "ends", "axes"], ["s"]),
        helper.make_node("Pad", ["s", "pads"], ["y"]),
    ], [f32("x", [2, 3])], [f32("y", [2, 4])],
        [init("shape", np.array([2, 3], np.int64)), init("starts", np.array([1], np.int64)),
         init("ends", np.array([3], np.int64)), init("axes", np.array([1], np.int64)),
         init("pads", np.array([0, 1, 0, 1], np.int64))])
    save_model(d, "qdq", [
        helper.make_node("QuantizeLinear", ["x", "sc", "zp"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "sc", "zp"], ["dq"]),
        helper.make_node("QuantizeLinear", ["w", "sc", "zp"], ["wq"]),
        helper.make_node("DequantizeLinear", ["wq", "sc", "zp"], ["wdq"]),
        helper.make_node("MatMul", ["dq", "wdq"], ["y"]),
    ], [f32("x", [1, 4])], [f32("y", [1, 2])],
        [init("sc", np.array(0.1, np.float32)), init("zp", np.array(0, np.int8)), init("w", w(4, 2))])
    save_model(d, "elementwise_mix", [
        helper.make_node("Mul", ["x", "k"], ["m"]),
        helper.make_node("Sigmoid", ["m"], ["s"]),
        helper.make_node("Clip", ["s", "lo", "hi"], ["c"]),
        helper.make_node("Cast", ["c"], ["h"], to=TensorProto.FLOAT16),
        helper.make_node("Cast", ["h"], ["y0"], to=TensorProto.FLOAT),
        helper.make_node("Resize", ["y0", "", "scales"], ["y"], mode="nearest"),
    ], [f32("x", [1, 1, 2, 2])], [f32("y", [1, 1, 4, 4])],
        [init("k", np.array([2.0], np.float32)), init("lo", np.array(0.1, np.float32)),
         init("hi", np.array(0.9, np.float32)), init("scales", np.array([1, 1, 2, 2], np.float32))])
    # Old-opset forms the importer rewrites (LegacyForms.cpp).
    save_model(d, "legacy_opset9", [
        helper.make_node("Upsample", ["x", "scales"], ["u"], mode="nearest"),
        helper.make_node("Dropout", ["u"], ["y"]),
    ], [f32("x", [1, 1, 2, 2])], [f32("y", [1, 1, 4, 4])],
        [init("scales", np.array([1, 1, 2, 2], np.float32))], opset=9)
    # An unsupported op: the inspect path keeps it.
    save_model(d, "unsupported_op", [helper.make_node("NonZero", ["x"], ["y"])],
               [f32("x", [4])], [helper.make_tensor_value_info("y", TensorProto.INT64, [1, "K"])])


def npy_seeds():
    d = out_dir("npy")
    arrays = {
        "f32_2x3": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f16": np.array([1.5, -2], np.float16),
        "f64_scalar": np.array(3.25, np.float64),
        "i8": np.array([-1, 2, 3], np.int8),
        "u8_img": np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3),
        "i32": np.array([[7]], np.int32),
        "i64_empty": np.zeros((0, 4), np.int64),
        "bool": np.array([True, False]),
    }
    for name, a in arrays.items():
        np.save(os.path.join(d, name + ".npy"), a)
    # Header format versions 2 and 3 (numpy writes 1 unless asked).
    for version in ((2, 0), (3, 0)):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arrays["f32_2x3"], version=version)
        with open(os.path.join(d, f"f32_v{version[0]}.npy"), "wb") as f:
            f.write(buf.getvalue())


def image_seeds():
    d = out_dir("image")
    rng = np.random.default_rng(2)
    rgb = Image.fromarray(rng.integers(0, 256, (5, 4, 3), dtype=np.uint8), "RGB")
    rgb.save(os.path.join(d, "rgb.png"))
    rgb.convert("L").save(os.path.join(d, "gray.png"))
    rgb.convert("RGBA").save(os.path.join(d, "rgba.png"))
    rgb.convert("P").save(os.path.join(d, "palette.png"))
    Image.fromarray((rng.integers(0, 65536, (3, 3))).astype(np.uint16)).save(os.path.join(d, "gray16.png"))
    rgb.save(os.path.join(d, "rgb.jpg"), quality=80)
    rgb.save(os.path.join(d, "progressive.jpg"), quality=60, progressive=True)
    rgb.convert("L").save(os.path.join(d, "gray.jpg"))
    rgb.save(os.path.join(d, "rgb.bmp"))


def recipe_seeds():
    d = out_dir("recipe")
    src = os.path.join(ROOT, "recipes")
    for name in sorted(os.listdir(src)):
        if name.endswith(".json"):
            shutil.copy(os.path.join(src, name), os.path.join(d, name))


def index_seeds():
    d = out_dir("index")
    seeds = {
        "labelled.txt": "a.npy 1\nb.png 2\n",
        "unlabelled.txt": "# samples\n\na.npy\n  b.png  \r\n",
        "spaces.txt": "./a.npy\t0\n./b.png -3\n",
    }
    for name, text in seeds.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    onnx_seeds()
    npy_seeds()
    image_seeds()
    recipe_seeds()
    index_seeds()
