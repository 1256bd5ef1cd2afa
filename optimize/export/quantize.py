"""ONNX Runtime int8: dynamic quantisation, or static QDQ calibrated on recorded UNet inputs.

Facts behind the defaults (measured on the build machine): quantising Conv dynamically makes
the SD UNet slower on CPU, so only MatMul/Gemm with constant weights are quantised unless
ops=all or ops=normed. Static (QDQ) Conv is fast, but one activation range per tensor has to
cover every denoising step, and the inputs of conv_in, the skip-connection shortcuts and the
down/upsamplers (the raw latent and residual stream) grow several-fold from the first step
to the last: quantising them costs up to 21% output error each (tiny-sd, random weights).
ops=normed quantises only the ResNet convolutions that follow a GroupNorm (conv1, conv2),
whose inputs are normalised and keep their range across steps;
`quant_pre_process` needs `skip_symbolic_shape=True` on these graphs; the dynamo exporter
leaves `graph.value_info` entries that break the quantiser, so they are cleared first.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from optimize.cpu_features import reduce_range_for
from optimize.errors import PassError
from optimize.export.onnx_export import MODEL_FILE
from optimize.export.ort_runtime import onnxruntime
from optimize.export.quantize_memory import graph_only_shape_inference, prepare_on_files
from optimize.export.recording import Inputs
from optimize.export.scratch import scratch_directory

OP_SETS = {
    "matmul": ("MatMul", "Gemm"),
    "all": ("MatMul", "Gemm", "Conv"),
    "normed": ("MatMul", "Gemm", "Conv"),  # Conv only where NORMED_CONV matches; see the docstring
}
# The legacy exporter names nodes after module paths: /unet/down_blocks.0/resnets.1/conv1/Conv.
NORMED_CONV = re.compile(r"/resnets\.\d+/conv[12]/")


def prepare(source: Path, folder: Path) -> Path:
    """value_info cleared, then ORT's pre-processing (graph optimisation + ONNX shape inference),
    with the weights left on disk (optimize/export/quantize_memory.py says why)."""
    onnxruntime()
    return prepare_on_files(source.resolve(), folder.resolve())


def convs_outside_normed(prepared: Path) -> list[str]:
    """The Conv nodes ops=normed leaves in float; PassError if no ResNet conv is recognised."""
    import onnx

    model = onnx.load(str(prepared), load_external_data=False)
    convs = [node.name for node in model.graph.node if node.op_type == "Conv"]
    if convs and not any(NORMED_CONV.search(name) for name in convs):
        raise PassError(
            f"ort-int8(ops=normed): none of the UNet's {len(convs)} Conv node names look like "
            f"ResNet conv1/conv2 (e.g. {convs[0]!r}); export with onnx(exporter=legacy) or use ops=all"
        )
    return [name for name in convs if not NORMED_CONV.search(name)]


def calibration_reader(samples: list[Inputs]) -> Any:
    """onnxruntime's CalibrationDataReader over inputs recorded from real denoising runs."""
    from onnxruntime.quantization import CalibrationDataReader

    class RecordedInputs(CalibrationDataReader):
        def __init__(self) -> None:
            self._iterator = iter(samples)

        def get_next(self) -> dict[str, Any] | None:
            sample = next(self._iterator, None)
            if sample is None:
                return None
            return {name: tensor.cpu().numpy() for name, tensor in sample.items()}

        def rewind(self) -> None:
            self._iterator = iter(samples)

    return RecordedInputs()


def quantize(
    source: Path,
    folder: Path,
    mode: str,
    ops: str,
    calibration: list[Inputs] | None = None,
    reduce_range: bool | None = None,
) -> Path:
    """Write the int8 graph to `folder/model.onnx`; `calibration` is required for mode=static.

    `reduce_range`: 7-bit weights, for x86 CPUs without VNNI (optimize/cpu_features.py); None
    decides it for this machine's CPU."""
    onnxruntime()
    if reduce_range is None:
        reduce_range = reduce_range_for(torch.device("cpu"))
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    source, folder = source.resolve(), folder.resolve()  # absolute: the tools run in a scratch cwd
    work = folder.parent / f"{folder.name}-work"
    prepared = prepare(source, work)
    target = folder / MODEL_FILE
    folder.mkdir(parents=True, exist_ok=True)
    op_types = list(OP_SETS[ops])
    excluded = convs_outside_normed(prepared) if ops == "normed" else []
    with contextlib.redirect_stdout(io.StringIO()), scratch_directory(), graph_only_shape_inference():
        if mode == "dynamic":
            quantize_dynamic(
                str(prepared),
                str(target),
                op_types_to_quantize=op_types,
                weight_type=QuantType.QInt8,
                reduce_range=reduce_range,
                use_external_data_format=True,
                nodes_to_exclude=excluded,
                extra_options={"MatMulConstBOnly": True},
            )
        else:
            if not calibration:
                raise ValueError("static quantisation needs calibration inputs")
            quantize_static(
                str(prepared),
                str(target),
                calibration_data_reader=calibration_reader(calibration),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=op_types,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=reduce_range,
                per_channel=True,
                use_external_data_format=True,
                nodes_to_exclude=excluded,
                # No CalibMaxIntermediateOutputs: ORT 1.31 discards (not reduces) the data at that limit.
                extra_options={"MatMulConstBOnly": True},
            )
    shutil.rmtree(work, ignore_errors=True)
    return target
