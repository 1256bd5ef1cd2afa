"""Checks that run the suite on the GPU: sd15 per dtype, emulated cards, quantisation, exports, compile.

sd15 runs at its real size (512 px, 20 steps, random weights); the export and compile paths
use tiny-sd at 256 px (TensorRT's smallest profile size), where what is checked is that the
path runs on CUDA with the right provider and image, not sd15's export time.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from bench.gpu_checks.base import CheckContext, Outcome, check, failed, passed, skipped
from bench.gpu_checks.suite_run import SuiteRun, figures, row_problem, suite_run

# Memory agreement (see the page's tolerances): reserved holds what was allocated plus the
# caching allocator's free blocks; NVML's process figure adds the CUDA context and library
# workspaces (cuBLAS, cuDNN), a few hundred MiB to about a GiB on current drivers.
RESERVED_SLACK = 1.3  # reserved <= allocated x 1.3 + 512 MiB
RESERVED_SLACK_MIB = 512.0
NVML_CONTEXT_MIB = 2048.0  # reserved <= NVML process <= reserved + 2 GiB
HALF_WEIGHTS = 0.65  # fp16/bf16 peak allocated <= 0.65 x fp32's (weights halve, activations too)
# Stage timing (synchronised per stage) against the synchronised whole call.
STAGE_SUM_TOLERANCE = 0.15
# tiny-sd's fp16 graphs against its fp32 torch image.
MIN_FP16_PSNR_DB = 20.0

SD15_DTYPES = ("fp32", "fp16", "bf16")
SD15_QUANTISED = ("bnb8", "nf4")
TRT = ("trt(precision=fp16)", "ort-int8(mode=static)+trt(precision=int8)")


def _device(context: CheckContext) -> str:
    return str(context.device)


def sd15(context: CheckContext, *more: str) -> tuple[str, ...]:
    return ("--model", "sd15", "--weights", "random", "--resolution", "512", "--steps", "20",
            "--device", _device(context), *more)  # fmt: skip


def _sd15_run(context: CheckContext) -> SuiteRun:
    variants = ",".join((*SD15_DTYPES, *SD15_QUANTISED))
    return suite_run(context, sd15(context, "--variants", variants), timeout_s=300)


def _tiny_run(context: CheckContext) -> SuiteRun:
    variants = ["fp32", "ort", "ort(precision=fp16)", "compile"]
    if importlib.util.find_spec("tensorrt") is not None:
        variants += TRT
    options = ("--model", "tiny-sd", "--resolution", "256", "--steps", "4", "--device", _device(context))
    return suite_run(context, (*options, "--variants", ",".join(variants)), timeout_s=300)


def _bf16_native(context: CheckContext) -> bool:
    return torch.cuda.get_device_capability(context.device) >= (8, 0)


@check("sd15-dtypes", "sd15 fp32/fp16/bf16 at 512 px, 20 steps; stage times add up to the call", 300)
def sd15_dtypes(context: CheckContext) -> Outcome:
    run = _sd15_run(context)
    problems, found = [], {}
    for variant in SD15_DTYPES:
        expected = "ok" if variant != "bf16" or _bf16_native(context) else "unsupported"
        problem = row_problem(run, variant, expected)
        if problem:
            problems.append(problem)
            continue
        row = run.row(variant) or {}
        found[f"{variant}_s"] = figures(row, "latency_median_s")["latency_median_s"]
        if expected == "ok":
            problems += _stage_sum_problem(variant, row)
    if problems:
        return failed("; ".join(problems), **found)
    within = f"{STAGE_SUM_TOLERANCE:.0%}"
    return passed(f"every dtype ran; per-stage times sum to the call within {within}", **found)


def _stage_sum_problem(variant: str, row: dict[str, Any]) -> list[str]:
    steps = (row.get("workload_detail") or {}).get("steps", 20)
    parts = (row.get("text_encoder_s"), row.get("step_median_ms"), row.get("vae_decode_s"))
    latency = row.get("latency_median_s")
    if latency is None or any(p is None for p in parts):
        return [f"{variant}: stage or latency figures missing"]
    stage_sum = parts[0] + steps * parts[1] / 1e3 + parts[2]
    if abs(stage_sum - latency) > STAGE_SUM_TOLERANCE * latency:
        return [f"{variant}: stages sum to {stage_sum:.2f} s against a {latency:.2f} s call"]
    return []


@check("sd15-vram", "allocated, reserved and NVML peaks agree within the stated tolerances", 300)
def sd15_vram(context: CheckContext) -> Outcome:
    run = _sd15_run(context)
    problems, found = [], {}
    rows = {v: run.row(v) for v in SD15_DTYPES if not row_problem(run, v)}
    if "fp32" not in rows:
        return failed(row_problem(run, "fp32") or "no fp32 row")
    for variant, row in rows.items():
        allocated, reserved = row.get("peak_vram_allocated_mib"), row.get("peak_vram_reserved_mib")
        nvml, basis = row.get("peak_vram_nvml_mib"), row.get("peak_vram_nvml_basis")
        if allocated is None or reserved is None:
            problems.append(f"{variant}: no allocator peaks in the row")
            continue
        found[variant] = f"{allocated:.0f}/{reserved:.0f}/{nvml or 0:.0f} MiB ({basis or 'no NVML'})"
        if not allocated <= reserved <= allocated * RESERVED_SLACK + RESERVED_SLACK_MIB:
            problems.append(f"{variant}: reserved {reserved:.0f} MiB against allocated {allocated:.0f}")
        if basis == "process" and not reserved <= nvml <= reserved + NVML_CONTEXT_MIB:
            problems.append(f"{variant}: NVML {nvml:.0f} MiB against reserved {reserved:.0f}")
        if nvml is None:
            problems.append(f"{variant}: no NVML figure")
        if variant != "fp32" and allocated > HALF_WEIGHTS * rows["fp32"]["peak_vram_allocated_mib"]:
            problems.append(f"{variant}: peak allocated {allocated:.0f} MiB is over {HALF_WEIGHTS}x fp32's")
    if problems:
        return failed("; ".join(problems), **found)
    note = (
        ""
        if all(r.get("peak_vram_nvml_basis") == "process" for r in rows.values())
        else ("; NVML could not see this process (device delta): NVML not compared with reserved")
    )
    return passed(f"allocated <= reserved <= NVML <= reserved + {NVML_CONTEXT_MIB:.0f} MiB{note}", **found)


@check("nvml-utilisation", "NVML utilisation and process memory recorded for the sd15 rows", 300)
def nvml_utilisation(context: CheckContext) -> Outcome:
    run = _sd15_run(context)
    problem = row_problem(run, "fp32")
    if problem:
        return failed(problem)
    row = run.row("fp32") or {}
    found = figures(row, "gpu_util_pct", "peak_vram_nvml_mib", "peak_vram_nvml_basis")
    if not row.get("gpu_util_pct"):
        return failed("fp32 row has no GPU utilisation (NVML absent, or sampled only while idle)", **found)
    return passed("utilisation sampled during the generations", **found)


@check("sd15-bnb", "bitsandbytes bnb8 and nf4 on CUDA (sd15)", 300)
def sd15_bnb(context: CheckContext) -> Outcome:
    if importlib.util.find_spec("bitsandbytes") is None:
        return skipped("bitsandbytes is not installed (the gpu extra installs it)")
    run = _sd15_run(context)
    problems = [p for v in SD15_QUANTISED if (p := row_problem(run, v))]
    found = {v: figures(run.row(v), "latency_median_s", "psnr_vs_baseline") for v in SD15_QUANTISED}
    return failed("; ".join(problems), **found) if problems else passed("both ran on CUDA", **found)


@check(
    "gtx1650-emulated",
    "gtx1650 emulated: sd15 fp32 out of memory at 4 GB, fits with --offload auto; bf16 refused",
    300,
)
def gtx1650(context: CheckContext) -> Outcome:
    capped = suite_run(context, sd15(context, "--profile", "gtx1650", "--variants", "fp32,bf16"), 150)
    problems = [p for v, s in (("fp32", "oom"), ("bf16", "unsupported")) if (p := row_problem(capped, v, s))]
    offloaded = suite_run(
        context, sd15(context, "--profile", "gtx1650", "--offload", "auto", "--variants", "fp32"), 200
    )
    problem = row_problem(offloaded, "fp32")
    row = offloaded.row("fp32") or {}
    if problem:
        problems.append(f"with --offload auto: {problem}")
    elif row.get("offload") not in ("model", "sequential"):
        problems.append(f"with --offload auto: offload {row.get('offload')!r}, expected model or sequential")
    found = figures(row, "offload", "peak_vram_allocated_mib", "latency_median_s")
    if problems:
        return failed("; ".join(problems), **found)
    return passed("fp32 oom, then fits offloaded; bf16 refused with its reason", **found)


@check("rtx3050-emulated", "rtx3050 emulated (8 GB): sd15 fp16 fits", 200)
def rtx3050(context: CheckContext) -> Outcome:
    run = suite_run(context, sd15(context, "--profile", "rtx3050", "--variants", "fp16"), 200)
    problem = row_problem(run, "fp16")
    found = figures(run.row("fp16"), "peak_vram_reserved_mib", "latency_median_s", "emulation")
    return failed(problem, **found) if problem else passed("fp16 ran under the 8 GB cap", **found)


@check("ort-cuda", "ONNX Runtime on CUDA with IO binding, and its fp16 fusions (tiny-sd, 256 px)", 300)
def ort_cuda(context: CheckContext) -> Outcome:
    try:
        import onnxruntime
    except ImportError:
        return skipped("onnxruntime is not installed")
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return skipped("this onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
    run = _tiny_run(context)
    return _exported(run, ("ort", "ort(precision=fp16)"), "CUDAExecutionProvider")


@check("tensorrt", "TensorRT fp16 and int8 engines (tiny-sd, 256 px)", 300)
def tensorrt(context: CheckContext) -> Outcome:
    if importlib.util.find_spec("tensorrt") is None:
        return skipped("tensorrt is not importable (NVIDIA's index; the gpu extra)")
    return _exported(_tiny_run(context), TRT, "Tensorrt")


def _exported(run: SuiteRun, variants: tuple[str, ...], provider: str) -> Outcome:
    problems, found = [], {}
    for variant in variants:
        problem = row_problem(run, variant)
        row = run.row(variant) or {}
        found[variant] = figures(
            row, "provider", "psnr_vs_baseline", "latency_median_s", "vram_source", "peak_vram_nvml_mib"
        )
        if problem:
            problems.append(problem)
        elif provider not in str(row.get("provider")):
            problems.append(f"{variant}: ran on {row.get('provider')}, not {provider}")
        elif (row.get("psnr_vs_baseline") or 0.0) < MIN_FP16_PSNR_DB:
            psnr = row.get("psnr_vs_baseline")
            problems.append(f"{variant}: {psnr} dB against fp32 (< {MIN_FP16_PSNR_DB})")
        elif problem := _vram_problem(variant, row, provider):
            problems.append(problem)
    if problems:
        return failed("; ".join(problems), **found)
    return passed(f"on {provider}, image within {MIN_FP16_PSNR_DB:.0f} dB of fp32", **found)


def _vram_problem(variant: str, row: dict, provider: str) -> str | None:
    """Exported rows must say where their VRAM is read (issue 15 item 9): ORT's arena is outside
    torch's allocator, so its figure is NVML's and it is not capped; TensorRT allocates through torch."""
    expected = "torch-allocator" if provider == "Tensorrt" else "nvml-device-delta"
    if row.get("vram_source") != expected:
        return f"{variant}: vram_source {row.get('vram_source')!r}, expected {expected!r}"
    if expected == "nvml-device-delta" and (row.get("vram_capped") or not row.get("peak_vram_nvml_mib")):
        capped, nvml = row.get("vram_capped"), row.get("peak_vram_nvml_mib")
        return f"{variant}: an ORT row must be uncapped with an NVML peak; capped={capped}, NVML {nvml}"
    return None


@check("compile", "torch.compile built and warmed up at the workload: the first call compiles nothing", 300)
def compile_check(context: CheckContext) -> Outcome:
    run = _tiny_run(context)
    problem = row_problem(run, "compile")
    row = run.row("compile") or {}
    found = figures(row, "build_s", "first_call_s", "latency_median_s")
    if problem:
        return failed(problem, **found)
    # A recompilation costs seconds; a first call within 3x the steady call (+0.5 s) had none.
    if row["first_call_s"] > 3 * row["latency_median_s"] + 0.5:
        return failed("the first call took far longer than the timed ones: a recompilation", **found)
    return passed("compile time in the build; first call at steady speed", **found)
