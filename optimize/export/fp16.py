"""float16 ONNX graphs for GPUs (not runnable on this CPU: ORT's fp16 CPU kernels are few).

- `fused_fp16`: ONNX Runtime's transformer optimiser for SD (attention, GroupNorm, BiasAdd,
  packed QKV/KV fusions: its model types `unet`, `vae`, `clip`), then fp16, for ORT's CUDA
  provider; this is what ORT's own stable_diffusion/optimize_pipeline.py does.
- `plain_fp16`: fp16 weights and compute without contrib ops, for TensorRT (11.x removed the
  FP16 builder flag: precision must be in the graph; its parser doesn't read ORT contrib ops).
Inputs and outputs stay float32 (`keep_io_types`), so the wrappers feed both the same way.

Not every op is cast. Normalisations (mean and variance over thousands of activations),
softmax, powers and reductions overflow fp16's 65504 on real activations: TensorRT warns that
layernorm in FP16 "may cause overflow" and asks for it in FP32, and ORT's SD tooling has
`force_fp32_ops` for this (its example: LayerNormalization). Those ops stay float32 (Casts
around them), on top of ORT's DEFAULT_OP_BLOCK_LIST. ORT's fused kernels (GroupNorm, SkipLayerNorm,
attention) accumulate in fp32 themselves, so the fused path blocks only what is left unfused.
Each build's fp16 parity against torch is then checked (parity.require_parity).
"""

from __future__ import annotations

from pathlib import Path

from optimize.export.onnx_export import DATA_FILE, MODEL_FILE
from optimize.export.ort_runtime import onnxruntime
from optimize.export.scratch import scratch_directory, unlinked

# Pipeline component -> ORT transformer optimiser model type.
MODEL_TYPES = {"unet": "unet", "vae": "vae", "text_encoder": "clip"}

NORMALISATION_OPS = ("LayerNormalization", "GroupNormalization", "InstanceNormalization")
# Sums of squares and exponentials: where fp16 overflows first.
REDUCTION_OPS = (
    "Softmax",
    "LogSoftmax",
    "Pow",
    "ReduceMean",
    "ReduceSum",
    "ReduceSumSquare",
    "ReduceL2",
    "ReduceLogSumExp",
)
FP32_OPS = NORMALISATION_OPS + REDUCTION_OPS


def fp32_op_block_list(fused: bool) -> list[str]:
    """Op types kept in float32: ORT's defaults plus the overflow-prone ones above."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

    return sorted({*DEFAULT_OP_BLOCK_LIST, *(REDUCTION_OPS if fused else FP32_OPS)})


def fused_fp16(component: str, source: Path, folder: Path) -> tuple[Path, dict[str, int]]:
    """The fp16 graph and the fused operators it got (recorded in the manifest)."""
    onnxruntime()
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    model_type = MODEL_TYPES[component]
    options = FusionOptions(model_type)
    if model_type == "unet":
        options.enable_packed_kv = True
        options.enable_packed_qkv = True
        options.enable_bias_add = True
    source, folder = source.resolve(), folder.resolve()  # absolute: the optimiser runs in a scratch cwd
    source = unlinked(source, folder.parent / f"{folder.name}-source", DATA_FILE)
    # Its symbolic shape inference drops sym_shape_infer_temp.onnx + <uuid>.data into the cwd.
    with scratch_directory():
        optimized = optimize_model(
            str(source),
            model_type=model_type,
            num_heads=0,  # deduced from the graph
            hidden_size=0,
            opt_level=0,  # python fusions only; ORT's own optimisation runs when the session loads
            optimization_options=options,
            use_gpu=True,
        )
        fused = {op: count for op, count in optimized.get_fused_operator_statistics().items() if count}
        optimized.convert_float_to_float16(keep_io_types=True, op_block_list=fp32_op_block_list(fused=True))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MODEL_FILE
    optimized.save_model_to_file(str(target), use_external_data_format=True)
    return target, fused


def plain_fp16(source: Path, folder: Path) -> Path:
    onnxruntime()
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source, folder = source.resolve(), folder.resolve()
    source = unlinked(source, folder.parent / f"{folder.name}-source", DATA_FILE)
    model = onnx.load(str(source), load_external_data=True)
    # The converter casts a blocked op's inputs back to fp32 only where value_info gives their
    # type; its own shape inference fails over protobuf's 2 GB (sd15's UNet), so infer on the
    # graph without its weights (types and shapes need only the initialisers' dims).
    typed = onnx.shape_inference.infer_shapes(onnx.load(str(source), load_external_data=False))
    del model.graph.value_info[:]
    model.graph.value_info.extend(typed.graph.value_info)
    with scratch_directory():
        converted = convert_float_to_float16(
            model, keep_io_types=True, disable_shape_infer=True, op_block_list=fp32_op_block_list(fused=False)
        )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MODEL_FILE
    onnx.save_model(
        converted, str(target), save_as_external_data=True, all_tensors_to_one_file=True, location=DATA_FILE
    )
    return target
