"""ONNX Runtime's static Q/DQ graph rewritten into the Q/DQ dialect TensorRT accepts.

`ort-int8(mode=static)` quantises activations to asymmetric uint8 (the fast u8s8 path of ORT's
CPU kernels). TensorRT takes only symmetric signed int8: its ONNX parser (onnx-tensorrt,
`QuantDequantLinearHelper`) treats a uint8 zero point as int8 and refuses any zero point that
is not 0 ("TensorRT only supports symmetric quantization"), and it has no int32
DequantizeLinear for ORT's quantised biases. Rather than calibrating a second time, the
calibrated range is read back from each uint8 (scale, zero point) pair and requantised
symmetrically, as ORT's `ActivationSymmetric` would have done from the same range:

- uint8 pair (s, z) covers [-z*s, (255-z)*s]; the int8 pair is (max(|lo|, hi)/127, 0).
- an asymmetric range starting at 0 (z == 0) also clamps negatives to 0: that is how ORT
  drops a Relu/Clip it folded into the quantiser. A symmetric quantiser would let negatives
  through, so a Relu is put back before it unless the producer can't go negative anyway.
- int32 bias DequantizeLinear nodes become float32 biases (their own scale, unchanged).
- weights are already int8 and symmetric (ORT's default for QInt8 weights): checked, kept.

`tensorrt_qdq_problems` lists what TensorRT's parser would reject; `tensorrt_qdq` refuses a
rewritten graph with any, before TensorRT sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from optimize.errors import PassError
from optimize.export.onnx_export import DATA_FILE, MODEL_FILE
from optimize.export.scratch import unlinked

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# Producers whose output is never negative: a Relu before their quantiser would change nothing.
NON_NEGATIVE = frozenset({"Relu", "Softmax", "Sigmoid", "Abs", "Exp", "Sqrt"})
INT8_MAX = 127


def symmetric_scale(scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """The int8 scale (zero point 0) covering the range a uint8 (scale, zero point) pair covers."""
    scale = scale.astype(np.float64)
    zero = zero_point.astype(np.float64)
    low, high = -zero * scale, (255.0 - zero) * scale
    return (np.maximum(-low, high) / INT8_MAX).astype(np.float32)


def _initializers(model: Any) -> dict[str, Any]:
    return {init.name: init for init in model.graph.initializer}


def tensorrt_qdq_problems(model: Any) -> list[str]:
    """What TensorRT's ONNX parser would reject in the Q/DQ nodes: non-int8 or non-zero zero
    points, non-positive scales, int32 (bias) dequantisation. Empty when the graph is fine."""
    from onnx import TensorProto, numpy_helper

    inits = _initializers(model)
    problems = []
    for node in model.graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        source = inits.get(node.input[0])
        int32 = source is not None and source.data_type == TensorProto.INT32
        if node.op_type == "DequantizeLinear" and int32:
            problems.append(f"{node.name}: int32 DequantizeLinear (a quantised bias)")
        scale = inits.get(node.input[1])
        if scale is not None and not (numpy_helper.to_array(scale) > 0).all():
            problems.append(f"{node.name}: a scale that is not positive")
        zero = inits.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if zero is None:
            continue
        if zero.data_type != TensorProto.INT8:
            name = TensorProto.DataType.Name(zero.data_type)
            problems.append(f"{node.name}: {name} zero point (TensorRT takes int8)")
        elif np.any(numpy_helper.to_array(zero) != 0):
            problems.append(f"{node.name}: non-zero int8 zero point (TensorRT takes symmetric only)")
    return problems


def to_tensorrt_qdq(model: Any) -> dict[str, int]:
    """Rewrite `model` (an onnx ModelProto, in place) as described in the module docstring."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = _initializers(model)
    producers = {out: node for node in graph.node for out in node.output}
    converted: dict[tuple[str, str], tuple[str, str]] = {}
    counts = {"requantised_pairs": 0, "relu_restored": 0, "biases_dequantised": 0}
    new_nodes = []  # the graph's nodes in order, less the bias DequantizeLinears, plus restored Relus
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and inits.get(node.input[0]) is not None:
            weight = inits[node.input[0]]
            if weight.data_type == TensorProto.INT32:
                # scale * (q - zero point), with the bias's own scale: the float bias ORT started from.
                values = numpy_helper.to_array(weight).astype(np.float64)
                if len(node.input) > 2 and node.input[2]:
                    values = values - numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
                scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
                bias = numpy_helper.from_array((values * scale).astype(np.float32), node.output[0])
                graph.initializer.append(bias)
                counts["biases_dequantised"] += 1
                continue
        if node.op_type in QDQ_OPS and len(node.input) > 2 and node.input[2]:
            zero = inits.get(node.input[2])
            if zero is not None and zero.data_type == TensorProto.UINT8:
                key = (node.input[1], node.input[2])
                if key not in converted:
                    zero_values = numpy_helper.to_array(zero)
                    scale = symmetric_scale(numpy_helper.to_array(inits[key[0]]), zero_values)
                    names = (f"{key[0]}_trt_s8", f"{key[1]}_trt_s8")
                    graph.initializer.append(numpy_helper.from_array(scale, names[0]))
                    graph.initializer.append(
                        numpy_helper.from_array(np.zeros(zero_values.shape, dtype=np.int8), names[1])
                    )
                    converted[key] = names
                    counts["requantised_pairs"] += 1
                node.input[1], node.input[2] = converted[key]
                producer = producers.get(node.input[0])
                clamps_at_zero = not np.any(numpy_helper.to_array(zero))
                can_be_negative = producer is None or producer.op_type not in NON_NEGATIVE
                if node.op_type == "QuantizeLinear" and clamps_at_zero and can_be_negative:
                    relu = f"{node.input[0]}_trt_relu"
                    new_nodes.append(helper.make_node("Relu", [node.input[0]], [relu], f"{node.name}_relu"))
                    node.input[0] = relu
                    counts["relu_restored"] += 1
        new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    _drop_unused_initializers(model)
    return counts


def _drop_unused_initializers(model: Any) -> None:
    used = {name for node in model.graph.node for name in node.input}
    used |= {output.name for output in model.graph.output}
    keep = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def tensorrt_qdq(source: Path, folder: Path) -> tuple[Path, dict[str, int]]:
    """Write the TensorRT-dialect copy of the Q/DQ graph at `source` to `folder/model.onnx`."""
    import onnx

    source, folder = source.resolve(), folder.resolve()
    source = unlinked(source, folder.parent / f"{folder.name}-source", DATA_FILE)
    model = onnx.load(str(source), load_external_data=True)
    counts = to_tensorrt_qdq(model)
    problems = tensorrt_qdq_problems(model)
    if problems:
        raise PassError(
            f"trt(precision=int8): {len(problems)} Q/DQ node(s) TensorRT would reject after the rewrite, "
            f"e.g. {problems[0]}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MODEL_FILE
    onnx.save_model(
        model, str(target), save_as_external_data=True, all_tensors_to_one_file=True, location=DATA_FILE
    )
    return target, counts
