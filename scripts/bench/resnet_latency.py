"""Batch-1 latency of ResNet-shaped students in ONNX Runtime, before any training.

Builds, for each spec, the graph distill exports for `resnet:WIDTHS,blocks=B[,stride=2]
[,stem=2]` (batch-norm folded into the convolutions, as ONNX Runtime folds it anyway; random
weights: latency does not depend on them) and times it against the teacher in the same
process, one intra-op thread, batch 1. Prints ms per sample, the speed-up over the teacher,
MACs and parameters. Use it to choose widths and strides before spending hours training.

Usage: resnet_latency.py TEACHER.onnx SPEC...   (SPEC as in --arch, e.g.
resnet:16,32,64,blocks=1,stride=2)
"""
import sys
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def parse(spec):
    kind, _, rest = spec.partition(":")
    if kind != "resnet":
        sys.exit(f"{spec}: only resnet specs are built here")
    widths, opts = [], {"blocks": 2, "stride": 1, "stem": 1}
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        if eq:
            opts[key] = int(value)
        else:
            widths.append(int(item))
    return widths, opts


def build(widths, opts, shape, classes):
    """The graph and its (MACs, parameters)."""
    rng = np.random.default_rng(0)
    nodes, inits, count = [], [], [0, 0]
    c_in, height, width = shape

    def conv(x, cin, cout, k, stride, size, relu=True, add=None):
        name = f"c{len(nodes)}"
        w = (rng.standard_normal((cout, cin, k, k)) * 0.1).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, name + "w"),
                      numpy_helper.from_array(np.zeros(cout, np.float32), name + "b")])
        out = [(n + stride - 1) // stride for n in size]
        count[0] += cout * cin * k * k * out[0] * out[1]
        count[1] += cout * cin * k * k + 2 * cout  # batch-norm's scale and shift
        nodes.append(helper.make_node("Conv", [x, name + "w", name + "b"], [name],
                                      kernel_shape=[k, k], strides=[stride] * 2,
                                      pads=[k // 2] * 4))
        y = name
        if add:
            nodes.append(helper.make_node("Add", [y, add], [name + "a"]))
            y = name + "a"
        if relu:
            nodes.append(helper.make_node("Relu", [y], [name + "r"]))
            y = name + "r"
        return y, out

    x, size = conv("input", c_in, widths[0], 3, opts["stem"], [height, width])
    cin = widths[0]
    for stage, cout in enumerate(widths):
        for block in range(opts["blocks"]):
            stride = (opts["stride"] if stage == 0 else 2) if block == 0 else 1
            shortcut = x
            if stride != 1 or cin != cout:
                shortcut, _ = conv(x, cin, cout, 1, stride, size, relu=False)
            y, inner = conv(x, cin, cout, 3, stride, size)
            x, size = conv(y, cout, cout, 3, 1, inner, add=shortcut)
            cin = cout
    nodes += [helper.make_node("GlobalAveragePool", [x], ["pooled"]),
              helper.make_node("Flatten", ["pooled"], ["features"]),
              helper.make_node("Gemm", ["features", "head_w", "head_b"], ["logits"], transB=1)]
    inits += [numpy_helper.from_array((rng.standard_normal((classes, cin)) * 0.1).astype(np.float32), "head_w"),
              numpy_helper.from_array(np.zeros(classes, np.float32), "head_b")]
    count[0] += classes * cin
    count[1] += classes * cin + classes
    graph = helper.make_graph(
        nodes, "student",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", c_in, height, width])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString(), count


def latency(model, shape, rounds=7, runs=2000):
    """Best of `rounds` means over `runs` batch-1 runs, in ms."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(1).random((1, *shape), dtype=np.float32)
    for _ in range(runs // 2):
        session.run(None, {name: x})
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(runs):
            session.run(None, {name: x})
        best = min(best, (time.perf_counter() - start) / runs)
    return best * 1e3


def main():
    teacher_path, specs = sys.argv[1], sys.argv[2:]
    teacher = open(teacher_path, "rb").read()
    session = ort.InferenceSession(teacher, providers=["CPUExecutionProvider"])
    dims = session.get_inputs()[0].shape[1:]
    shape = [d if isinstance(d, int) else 28 for d in dims]
    classes = session.get_outputs()[0].shape[-1]
    base = latency(teacher, shape)
    print(f"teacher {teacher_path}: {base:.4f} ms per sample at batch 1 (input {shape})")
    print("| student | MACs | params | ms b1 | faster |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for spec in specs:
        model, (macs, params) = build(*parse(spec), shape, classes)
        ms = latency(model, shape)
        print(f"| {spec} | {macs / 1e6:.2f} M | {params:,} | {ms:.4f} | {base / ms:.1f}× |")


if __name__ == "__main__":
    main()
