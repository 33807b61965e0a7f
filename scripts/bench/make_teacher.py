"""Writes a random-weight ONNX classifier for throughput and memory benchmarks: flatten,
Gemm to 256, ReLU, Gemm to CLASSES, weights drawn from a seeded normal so that its logits
spread like a trained teacher's (a few classes well above the rest for most inputs).
Its accuracy is meaningless; its shape and cost are a real teacher's input and output.

Usage: python make_teacher.py OUT.onnx CLASSES CxHxW [SEED]
Needs numpy and onnx.
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out, classes, shape = sys.argv[1], int(sys.argv[2]), [int(v) for v in sys.argv[3].split("x")]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
rng = np.random.default_rng(seed)
features = int(np.prod(shape))
hidden = 256
w1 = (rng.standard_normal((features, hidden)) * np.sqrt(2.0 / features)).astype(np.float32)
b1 = np.zeros(hidden, np.float32)
w2 = (rng.standard_normal((hidden, classes)) * 3.0 / np.sqrt(hidden)).astype(np.float32)
b2 = (rng.standard_normal(classes) * 1.5).astype(np.float32)
graph = helper.make_graph(
    [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"]),
    ],
    "random_teacher",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *shape])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
    [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, out)
print(f"{out}: {features} -> {hidden} -> {classes}, seed {seed}")
