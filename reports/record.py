"""The run record: every field of a saved run's rows, owned here once.

A saved run is pytest-benchmark's JSON (docs/run-format.md). Each field below is one key in
it: its name, the Python type of its value, its unit, what it means, which part of diffbench
fills it, and where it lives (its *section*). bench writes rows with these keys, reports reads
them through `COLUMNS` (derived from the fields, in the report's order), and the field tables
of docs/run-format.md are generated from them (`python -m reports.record --markdown`).

Standard library only, and nothing else of ours: bench imports this module (the schema, the
workload label) without pulling pandas or the rest of reports.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# The version stamped in every place diffbench writes (machine_info, each row, the run's own
# section, the journal). A reader refuses other versions: renamed or re-meant keys would give
# a silently wrong table.
SCHEMA = 1

DEFAULT_PROMPT = "a photograph of an astronaut riding a horse"


def workload_label(
    width: int,
    height: int,
    steps: int,
    guidance: float,
    batch: int,
    scheduler: str,
    seed: int = 0,
    prompt: str = DEFAULT_PROMPT,
) -> str:
    """The canonical workload text, the report's `workload` column: `64x64/4steps/cfg7.5/b1/euler`.

    Seed and prompt are named only when they are not the defaults, so the usual label stays
    short while two workloads of a seed or prompt sweep never share one (rows are matched
    across runs on it).
    """
    label = f"{width}x{height}/{steps}steps/cfg{guidance:g}/b{batch}/{scheduler}"
    if seed != 0:
        label += f"/seed{seed}"
    if prompt != DEFAULT_PROMPT:
        label += f"/prompt-{hashlib.sha1(prompt.encode()).hexdigest()[:8]}"
    return label


# --- where a field lives -------------------------------------------------------------------------

KeyPath = tuple[str, ...]

# Section -> (the path to it in the reader's per-row context, where it is in the JSON). The
# context's roots are what reports' loader builds per row: `file` (the run file's stem and path),
# `run` (the whole document), `benchmark` (the benchmark entry, or a failure row), `extra_info`
# and `stats` (empty for failure rows).
SECTIONS: dict[str, tuple[KeyPath, str]] = {
    "file": (("file",), "the run file itself (the reader fills these)"),
    "run": (("run",), "the top level of the run document"),
    "benchmark": (("benchmark",), '`benchmarks[i]`, or a failure row under `diffbench["rows"]`'),
    "stats": (("stats",), '`benchmarks[i]["stats"]` (pytest-benchmark\'s; failure rows have none)'),
    "machine": (("run", "machine_info", "diffbench"), '`machine_info["diffbench"]`'),
    "extra_info": (("extra_info",), '`benchmarks[i]["extra_info"]`: the row'),
    "workload_detail": (("extra_info", "workload_detail"), '`extra_info["workload_detail"]`'),
    "diffbench": (("run", "diffbench"), '`output_json["diffbench"]`: the run\'s own section'),
}

# Python types as JSON holds them; `datetime` is ISO-8601 text that the reader parses.
TYPE_NAMES: dict[type, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    dict: "object",
    list: "list",
    datetime: "datetime",
}

SAME = "="  # `column=SAME`: the report column has the field's own name


@dataclass(frozen=True)
class Field:
    """One key of a saved run."""

    name: str
    type: type
    unit: str  # "" when the value has none
    filled_by: str  # suite, `collector <function>`, machine, journal, webui, pytest-benchmark, reports
    meaning: str  # markdown, for docs/run-format.md
    section: str = "extra_info"
    nullable: bool = True  # the doc says "or null" (any field is null on a row that never measured it)
    column: str | None = None  # the report column it fills (SAME: its own name); None: not a column
    summary: str = ""  # the column's one-line description; the meaning when empty
    group: str = ""  # the column's group
    also_read: tuple[KeyPath, ...] = ()  # further places the column reads when this key is null
    items: type | None = None  # an object's values, all of this type (profile name -> value)
    per_item: tuple[str, ...] = ()  # one report column per listed key of the object

    @property
    def path(self) -> KeyPath:
        return (*SECTIONS[self.section][0], self.name)

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.type]


@dataclass(frozen=True)
class Column:
    """One column of reports' table: the first of its sources holding a non-null value wins."""

    name: str
    type: type
    sources: tuple[KeyPath, ...]
    summary: str
    unit: str
    group: str

    @property
    def kind(self) -> str:
        return TYPE_NAMES[self.type]


def _f(name: str, type_: type, unit: str, by: str, meaning: str, **more: Any) -> Field:
    return Field(name, type_, unit, by, meaning, **more)


def _col(
    name: str, type_: type, unit: str, by: str, group: str, summary: str, meaning: str = "", **more: Any
) -> Field:
    """A field shown as a report column of its own name."""
    return Field(name, type_, unit, by, meaning or summary, column=SAME, group=group, summary=summary, **more)


def _req(*args: Any, **more: Any) -> Field:
    """A column field that a timed row of the suite always fills (never null there)."""
    return _col(*args, nullable=False, **more)


_BENCH = "pytest-benchmark"
_WORKLOAD = "workload_detail"
GPU_PROFILES = ("gtx1650", "rtx3050-laptop", "rtx3050", "rtx3080", "rtx3080-12")

# The report's columns come first, in the table's order; the fields no column shows follow.
# fmt: off
FIELDS: tuple[Field, ...] = (
    _col("run", str, "", "reports", "context", "the run file's stem, e.g. 0001_first", section="file"),
    _col("machine", str, "", "machine", "context",
         "diffbench machine fingerprint, else pytest-benchmark's node name", "`host-name/cpu-brand/gpu-name`",
         section="machine", nullable=False, also_read=(("run", "machine_info", "node"),)),
    _col("model", str, "", "suite", "context", "model registry name or local path",
         "registry name (`tiny-sd`) or local path", nullable=False),
    _col("variant", str, "", "suite", "context", "canonical recipe text",
         "canonical recipe text (`fp32`, `bf16`, `prune(0.3)+bf16`)", nullable=False),
    _req("profile", str, "", "suite", "context", "hardware profile",
         "hardware profile name (`cpu`, `host`, `gtx1650`, ...): `--profile`, or the class the device is "
         "detected as"),
    _req("device", str, "", "suite", "context", "torch device", "`cpu`, `cuda:0`"),
    _col("status", str, "", "suite", "context", "ok, nan, oom, unsupported, error, timeout",
         "`ok`, `nan`, `oom`, `unsupported`, `error`, `timeout`", nullable=False),
    _col("workload", str, "", "suite", "context", "canonical workload text",
         "canonical workload text, e.g. `64x64/4steps/cfg7.5/b1/euler` (`/seed<N>` and `/prompt-<sha1[:8]>` "
         "added when not the defaults): `reports.record.workload_label`", nullable=False),
    Field("median", float, "s", _BENCH, "median seconds per call", section="stats", nullable=False,
          column="latency_median_s", group="latency"),
    Field("iqr", float, "s", _BENCH, "interquartile range of seconds per call", section="stats",
          nullable=False, column="latency_iqr_s", group="latency"),
    _col("step_median_ms", float, "ms", "suite", "latency", "median denoising step time",
         "median time of one denoising step"),
    _req("build_s", float, "s", "suite", "latency", "time to build or load the variant"),
    Field("peak_vram_allocated_mib", float, "MiB", "suite", "`torch.cuda.max_memory_allocated`, null on CPU",
          column="peak_vram_mib", group="memory", summary="torch.cuda.max_memory_allocated"),
    _req("peak_ram_mib", float, "MiB", "suite", "memory",
         "the variant's peak RSS while generating, the source model not resident",
         "the variant's peak RAM: the process's peak RSS over the first call, warm-up and timed rounds, "
         "with **only the variant resident**: the source model every variant is built from is dropped "
         "before measuring and loaded again for the next build (`bench/source_model.py`), so a bf16 "
         "variant is not charged for the fp32 weights it was cast from. Includes the Python interpreter "
         "and the imported libraries (a few hundred MiB, the same for every variant of a run). Read from "
         "the kernel's high-water mark (`VmHWM`, reset through `/proc/self/clear_refs` on entry) where "
         "Linux allows, else sampled in a thread"),
    _col("params", int, "", "suite", "size", "parameters of all pipeline components",
         "parameters of all pipeline components (bitsandbytes' packed 4-bit weights counted at their real "
         "shape); null (not measured) for exported variants (`onnx`, `ort`, `ort-int8`, `trt`), whose "
         "weights are graph initialisers or engine data outside torch"),
    _req("size_mb", float, "MB", "suite", "size", "bytes on disk of the variant's artefacts / 1e6"),
    _col("psnr_vs_baseline", float, "dB", "suite", "quality",
         "dB against the baseline image; inf when identical",
         "dB against the baseline image of the same seed; null for the baseline itself; `Infinity` when "
         "identical"),
    _col("fid", float, "", "collector quality_fields", "quality", "Frechet inception distance",
         "Fréchet inception distance of the variant's `fid_n` samples against `fid_ref` (with `--quality "
         "fid`; null otherwise)"),
    _col("ssim_vs_baseline", float, "", "suite", "quality",
         "SSIM against the baseline image, 1 when identical (Wang et al. 2004 settings)",
         "structural similarity against the baseline image of the same seed (scikit-image, Wang et al. "
         "2004: 11-tap Gaussian window of sigma 1.5, population covariances, K1 0.01, K2 0.03, data range "
         "1; each colour channel, then the mean over channels and over the batch's images); 1 when "
         "identical; a smaller odd window on an image under 11 px a side; null for the baseline itself, "
         "and when an image is under 3 px a side or has non-finite pixels (docs/quality.md)"),
    _col("first_build_s", float, "s", "suite", "latency", "time the variant's build took when it was made",
         "seconds the build took when the variant was made (the variant cache's manifest): on a cache "
         "hit `build_s` is the load, this is the build it saved"),
    _col("reason", str, "", "suite", "context", "why, when status is not ok",
         "why, when status is not `ok` (empty otherwise)", nullable=False),
    _req("weights", str, "", "suite", "context", "random or the local weights path",
         "`random` or the local weights path"),
    _req("dtype", str, "", "suite", "context", "compute dtype of the UNet",
         "compute dtype of the UNet (`float32`, `bfloat16`)"),
    _req("cache_hit", bool, "", "suite", "latency", "the variant came from the variant cache"),
    _col("build_peak_ram_mib", float, "MiB", "suite", "memory",
         "peak RSS while the variant was built (or loaded from the cache)",
         "peak RSS of the process while the variant was built (or, on a cache hit, loaded): the source "
         "model (resident during a build) plus whatever the passes hold; the manifest's "
         "`build_peak_ram_mib` keeps the first build's figure"),
    _req("ram_start_mib", float, "MiB", "suite", "memory",
         "RSS when measuring began: the variant resident, nothing generated",
         "RSS when measuring began (the variant loaded, nothing generated yet): the variant's resident size "
         "plus the interpreter"),
    _req("ram_source", str, "", "suite", "memory",
         "kernel-hwm (the kernel's exact peak) or sampled (a thread's samples)",
         "`kernel-hwm` (exact peak from the kernel) or `sampled` (a thread's samples: a short peak can be "
         "missed); with `/set` after it (`--interleave`, every variant of the workload resident) the peak is "
         "the set's, not the variant's alone"),
    _req("baseline_variant", str, "", "suite", "quality", "the variant PSNR is measured against",
         "the variant PSNR is measured against (`fp32`)"),
    _col("step_iqr_ms", float, "ms", "suite", "latency", "interquartile range of the denoising step time"),
    _req("first_call_s", float, "s", "suite", "latency", "first generation after the build",
         "wall time of the first generation after the build"),
    _col("text_encoder_s", float, "s", "suite", "latency", "median text-encoder time per generation",
         "median text-encoder time per generation; null for a pipeline without one (unconditional DDPM)"),
    _col("vae_decode_s", float, "s", "suite", "latency", "median VAE decode time per generation",
         "median VAE decode time per generation; null for a pixel-space pipeline (no VAE)"),
    _col("generator_s", float, "s", "suite", "latency", "median GAN generator G(z) time per generation",
         "median GAN generator `G(z)` time per generation; null but for a GAN"),
    _col("family", str, "", "collector family_fields", "context",
         "model family: stable-diffusion, ddpm, vae or gan",
         "`stable-diffusion`, `ddpm`, `vae` or `gan`: how the model generates (a VAE or GAN row has null "
         "step fields)"),
    _col("provider", str, "", "collector runtime_provider", "context",
         "execution provider the exported graphs really ran on; NaN for torch",
         "the execution provider the exported components' sessions really got "
         "(`session.get_providers()[0]`: `CPUExecutionProvider`, `CUDAExecutionProvider`, "
         "`TensorrtExecutionProvider`, or `TensorRT` for engines), not the one requested, so "
         "onnxruntime-gpu's silent fallback to the CPU shows; `name=provider,...` when components differ; "
         "null for torch variants"),
    _col("checkpoint", str, "", "collector checkpoint_fields", "context",
         "the fine-tuning checkpoint applied (UNet checkpoint, LoRA, embedding)",
         "the fine-tuning checkpoint applied (`--unet-checkpoint`, else the only "
         "`--lora`/`--textual-inversion` file's name)"),
    _col("adapters", str, "", "collector checkpoint_fields", "context",
         "every --unet-checkpoint/--lora/--textual-inversion applied, with scales",
         "every `--unet-checkpoint`, `--lora` (with its scale) and `--textual-inversion` (with its token) "
         "applied"),
    _col("steps", int, "", "suite", "workload", "denoising steps per generation", section=_WORKLOAD),
    _col("guidance", float, "", "suite", "workload", "guidance scale", section=_WORKLOAD),
    _col("scheduler", str, "", "suite", "workload", "the scheduler",
         "the scheduler (`euler`, `ddim`, `dpm++2m`, `pndm`, `default`; the web UI study writes the "
         "sampler's own name)", section=_WORKLOAD),
    _col("width", int, "px", "suite", "workload", "image width, pixels", section=_WORKLOAD),
    _col("height", int, "px", "suite", "workload", "image height, pixels", section=_WORKLOAD),
    _col("batch", int, "", "suite", "workload", "images per prompt", section=_WORKLOAD),
    _col("seed", int, "", "suite", "workload", "seed of the initial latents", section=_WORKLOAD),
    _col("prompt", str, "", "suite", "workload", "the prompt", section=_WORKLOAD),
    Field("mean", float, "s", _BENCH, "mean seconds per call", section="stats", nullable=False,
          column="latency_mean_s", group="latency"),
    Field("min", float, "s", _BENCH, "fastest call, seconds", section="stats", nullable=False,
          column="latency_min_s", group="latency"),
    # diffbench's own count first; a plain pytest-benchmark run still has stats.rounds.
    _req("rounds", int, "", "suite", "latency", "timed rounds", "timed rounds (warm-up excluded)",
         also_read=(("stats", "rounds"),)),
    _col("peak_vram_reserved_mib", float, "MiB", "suite", "memory", "torch.cuda.max_memory_reserved",
         "`torch.cuda.max_memory_reserved`, null on CPU"),
    _col("peak_vram_nvml_mib", float, "MiB", "suite", "memory", "NVML process memory, CUDA context included",
         "NVML process memory (includes the CUDA context)"),
    _col("peak_vram_nvml_basis", str, "", "suite", "memory",
         "process (NVML saw this process) or the device's memory growth",
         "`process` (NVML listed this process) or the device's used-memory growth since the reset, where "
         "NVML cannot see the process (containers); null on CPU"),
    _req("vram_source", str, "", "collector vram_accounting", "memory",
         "where VRAM is read: torch-allocator, nvml-device-delta, host",
         "where the row's VRAM must be read: `torch-allocator` (torch modules, TensorRT engines, which "
         "allocate through torch), `nvml-device-delta` (ONNX Runtime on CUDA: its arena is invisible to "
         "torch, so `peak_vram_allocated_mib` is near zero), `host` (a CPU run)"),
    _req("vram_capped", bool, "", "collector vram_accounting", "memory",
         "the emulated profile's memory cap bound this variant",
         "whether the emulated profile's memory cap bound this variant (torch's memory fraction; ORT's "
         "`gpu_mem_limit` bounds one session's arena only, so ORT rows are not capped)"),
    _req("vram_cap_note", str, "", "collector vram_accounting", "memory",
         "why the cap did not bind (ONNX Runtime's own arena)",
         "why not, when `vram_capped` is false; for an emulated ORT row, `fits` is then decided from the "
         "NVML peak against the profile's memory (`fit_note` says so)"),
    _col("gpu_util_pct", float, "%", "suite", "memory",
         "mean NVML GPU utilisation during the generations, %; NaN on CPU",
         "mean GPU utilisation (NVML, whole device, sampled every 50 ms during the first call, warm-up and "
         "timed rounds); null on CPU or without nvidia-ml-py"),
    # Energy over the timed rounds from hardware counters through Zeus (bench/instruments/energy.py).
    _col("energy_j", float, "J", "suite", "energy",
         "energy per generation over the timed rounds, joules; null (with energy_reason) without a counter",
         "joules per generation: what the counters in `energy_counters` counted over the timed rounds "
         "(through Zeus: NVML's energy counter of the run's GPU, Volta or newer; RAPL's CPU package and "
         "DRAM, whole package), divided by the timed generations; null when no counter could be read, "
         "never an estimate (`energy_reason` says why)"),
    _col("images_per_kwh", float, "images/kWh", "suite", "energy", "images per kilowatt-hour, from energy_j",
         "images per generation (`batch`) / (`energy_j` / 3.6e6); null with `energy_j`"),
    _col("energy_counters", str, "", "suite", "energy", "counters energy_j sums: nvml:gpu0+rapl:cpu0",
         "the counters `energy_j` sums, `+`-joined: `nvml:gpu<i>` (torch's device index), `rapl:cpu<i>` "
         "and `rapl:dram<i>` (RAPL package i); null when none was read"),
    _col("energy_reason", str, "", "suite", "energy", "why energy_j is null; empty when measured",
         "why `energy_j` is null (no NVML, no RAPL, a counter that did not advance, zeus not installed); "
         "null when measured"),
    _col("macs_g", float, "G MACs", "collector macs_fields", "compute",
         "multiply-accumulates per generated image, all stages, billions",
         "multiply-accumulates per generated image, all stages, in billions (FLOPs = 2 x MACs): text "
         "encoder(s) x (2 with CFG) / batch + UNet x steps x (2 with CFG) + VAE decode; counted once per "
         "stage on the meta device (convs, linears, matmuls, attention incl. CPU SDPA; element-wise ops "
         "not counted): on a row with a hardware profile, from the memory estimate's own trace of the "
         "stage (one trace per row, `bench/instruments/meta_trace.py`), else with "
         "`torch.utils.flop_counter` (`bench/instruments/flops.py`); null when a "
         "component is not a torch module (ONNX, TensorRT)"),
    _col("unet_macs_g", float, "G MACs", "collector macs_fields", "compute",
         "multiply-accumulates of one UNet call for one image, billions",
         "MACs of one UNet call for one image (no CFG doubling), billions"),
    _req("param_mb", float, "MB", "collector quantisation_fields", "size",
         "bytes of parameters and buffers in memory / 1e6, quantised layers as stored",
         "bytes of every component's parameters and buffers as held in memory / 1e6, quantised layers "
         "counted as the tensors they are saved as (torchao's `Int8Tensor` reports a float dtype, "
         "bitsandbytes' 4-bit weight is packed, so `numel x element_size` would be wrong for them)"),
    _col("quantised_layers", int, "", "collector quantisation_fields", "size",
         "Linear layers the recipe's quantisation passes replaced",
         "Linear layers the recipe's quantisation passes (`int8`, `int8wo`, `bnb8`, `nf4`) replaced, "
         "counted in the built model; null without such a pass"),
    _col("skipped_layers", int, "", "collector quantisation_fields", "size",
         "chosen layers the quantisation library refused (left float)",
         "chosen layers the quantisation library refused, left float (named with the reason in the "
         "manifest's `checks.<pass>.components.<component>.skipped_layers`)"),
    _col("quantised_bytes_ratio", float, "", "collector quantisation_fields", "size",
         "bytes of the quantised layers / their fp32 bytes",
         "bytes the quantised layers are saved as (weights, scales, quant state, biases) / those layers' "
         "fp32 bytes"),
    _col("fid_n", int, "", "collector quality_fields", "quality", "samples per variant behind fid and kid",
         "samples per variant, seeds `seed`..`seed+fid_n-1`, the same for every variant, generated outside "
         "the timed rounds"),
    _col("fid_ref", str, "", "collector quality_fields", "quality",
         "what fid is measured against: a folder, a built-in set, or baseline",
         "a folder path, `baseline` (the baseline variant's own samples) or a built-in set (`ihc-heldout`, "
         "`ihc-train`)"),
    _col("fid_dims", int, "", "collector quality_fields", "quality",
         "Inception feature size used for fid and kid",
         "Inception feature size: 2048 (pool), or pytorch-fid's 64/192/768"),
    _col("fid_s", float, "s", "collector quality_fields", "quality",
         "seconds of Inception features + distances for the variant's samples",
         "seconds of Inception feature extraction + FID/KID for the variant's samples (sample generation "
         "excluded)"),
    _col("fid_shards", int, "", "fleet run", "quality",
         "seed ranges the fid samples were made in (fleet run)",
         "how many seed ranges (Ray tasks on nodes of the row's profile) the `fid_n` samples were made in "
         "by `diffbench fleet run --quality fid` (docs/fleet-fid.md); null for a one-machine row"),
    _col("kid", float, "", "collector quality_fields", "quality",
         "kernel inception distance (unbiased MMD^2, polynomial kernel)",
         "kernel inception distance: unbiased MMD² with the kernel (x·y/d + 1)³, mean over 100 subsets"),
    _col("kid_std", float, "", "collector quality_fields", "quality",
         "standard deviation of kid over its subsets",
         "its standard deviation over the 100 subsets, each of min(1000, `fid_n`, reference count) samples "
         "drawn from each side; null only when both sides have the same number of samples, at most 1000 "
         "(every subset is then the whole of both sets, so the spread would be 0 by construction; "
         "`quality_note` says so)"),
    _col("is", float, "", "collector quality_fields", "quality",
         "Inception score; NaN: the FID Inception file has no logits",
         "Inception score: always null, because the FID Inception file has no classifier logits"),
    _col("quality_note", str, "", "collector quality_fields", "quality",
         "caveats of the quality figures (rank, IS, CLIP)",
         "caveats: too few samples for a full-rank covariance (with the dimension to use instead), IS "
         "unavailable, CLIP score skipped (no local CLIP weights)"),
    _req("device_name", str, "", "suite", "context", "the real device the row ran on (GPU or CPU name)",
         "the real device the row ran on: the GPU's name, or the CPU's brand"),
    _req("emulated", bool, "", "suite", "context",
         "a larger GPU emulated the profile (memory capped, dtypes refused)",
         "true when a larger GPU emulated the profile: allocator capped at the profile's memory less its "
         "CUDA-context reserve (`torch.cuda.set_per_process_memory_fraction`), dtypes the card cannot run "
         "refused as `unsupported`; measured latency is still the host's"),
    _req("emulation", str, "", "suite", "context", "how the profile was emulated, or why it was not",
         "how the profile was emulated, or why not (`native: ...`, `not emulated: no GPU on this machine; "
         "...`)"),
    _req("offload", str, "", "suite", "memory", "none, model or sequential: the CPU offload that made it fit",
         "`none`, or with `--offload auto` the CPU offload that made an out-of-memory variant fit (`model`, "
         "then `sequential`); the row's latency is then the offloaded one (what it cost); null on failure "
         "rows"),
    _col("offload_note", str, "", "suite", "memory", "the out-of-memory that made --offload auto retry",
         "the out-of-memory (and its peak) that made `--offload auto` retry"),
    _col("est_peak_mem_mib", float, "MiB", "collector profile_fit", "projection",
         "estimated peak device memory of one generation (meta trace)",
         "estimated peak device memory of one generation: every component's weights + the largest stage's "
         "activation peak (live tensor bytes traced on the meta device, allocator-rounded, attention as "
         "one fused kernel) + 128 MiB workspace allowance; see `bench/profiles/estimate.py`; null when a "
         "component cannot run on meta tensors (ONNX, TensorRT), with the reason in `projection`"),
    _col("est_weights_mib", float, "MiB", "collector profile_fit", "projection",
         "estimated bytes of all weights on the device, MiB", "the weights part of `est_peak_mem_mib`"),
    _col("est_vs_measured_mib", float, "MiB", "collector profile_fit", "projection",
         "est_peak_mem_mib minus the measured CUDA allocator peak",
         "`est_peak_mem_mib` minus the measured `peak_vram_allocated_mib` (on a GPU, without offload): how "
         "far the estimate was off"),
    _col("fits", bool, "", "collector profile_fit", "projection",
         "est_peak_mem_mib fits the profile's memory less its CUDA-context reserve",
         "the card can run the row's dtype (false for bf16 on a card without it, see `fit_note`) and "
         "`est_peak_mem_mib` <= the row profile's memory less its CUDA-context reserve (500 MiB for the "
         "GPU classes; RAM for `cpu`); `collector vram_accounting` decides it from NVML for an emulated "
         "ONNX Runtime row"),
    _col("projected_latency_s", float, "s", "collector profile_fit", "projection",
         "projected seconds per generation on the profile (roofline)",
         "projected seconds per generation on the profile: text encoder(s) + steps x UNet + VAE decode"),
    _col("projected_step_ms", float, "ms", "collector profile_fit", "projection",
         "projected UNet step on the profile, ms (roofline)",
         "projected UNet step (one denoising step, CFG batch included) on the row's profile: a roofline per "
         "traced op, max(FLOPs / (peak x efficiency), bytes / (bandwidth x efficiency)), summed; null for "
         "`cpu`/`host` (no datasheet rates) or a dtype the card cannot run; kept apart from the measured "
         "`step_median_ms`"),
    _col("projection", str, "", "collector profile_fit", "projection",
         "how the projection was made, or why there is none",
         "how the projection was made (ops, TFLOP and GB per step, efficiency and where it came from, "
         "warnings such as GTX 16xx fp16 NaNs), or why there is none"),
    _col("projection_efficiency", float, "", "collector profile_fit", "projection",
         "fraction of the profile's peak the projection assumed",
         "the efficiency factor the projection used (default 0.5, or from `--calibration`); `python -m "
         "bench.profiles calibrate RUN.json` turns measured rows into a calibration file"),
    _col("projection_note", str, "", "collector profile_fit", "projection",
         "set when the projection is launch-bound: model too small for the card",
         "set when the projected step is launch-bound: the kernels per step x `launch_us` (8 us until "
         "calibrated) exceed the roofline, so the model is too small for the card and the figure is the "
         "host's kernel-issue rate, not the card's speed; calibration takes `launch_us` from such rows "
         "(measured step / kernels) and the efficiency from the others"),
    _col("fit_note", str, "", "collector profile_fit", "projection",
         "cards the row's dtype cannot run (fits false whatever the memory)",
         "why `fits` / `fits_profiles` is false on some cards whatever their memory: a compute dtype the "
         "card cannot run (`gtx1650 (sm_75) has no bf16: ...`)"),
    _col("dtype_note", str, "", "collector dtype_native", "projection",
         "set when the CPU only emulates the row's dtype (slower than fp32)",
         "set when the CPU only emulates the row's dtype (bf16 without `avx512_bf16`/`amx_bf16`, fp16 "
         "without `avx512_fp16`/`amx_fp16`): every op converts to fp32, so it runs slower than fp32; such "
         "variants are left out of the default `--variants`"),
    Field("fits_profiles", dict, "", "collector profile_fit",
          "`{\"gtx1650\": true, \"rtx3050-laptop\": false, ...}`: `fits` for every GPU profile known to the "
          "run (built-in and `--profile-file`). Read long-form, one row per row and profile, by "
          "`reports/fits.py` (the source of truth: `python -m reports fits`, `recommend --profile` on any of "
          "them); the report's `fits_<profile>` columns show the built-in ones", items=bool,
          per_item=GPU_PROFILES, group="projection", summary="fits the {} profile"),
    _col("gpu", str, "", "machine", "machine", "GPU name; NaN on a machine without one",
         "the GPU's name; null without one", section="machine"),
    _col("cpu_capability", str, "", "machine", "machine",
         "torch's CPU kernel level (AVX2, AVX512): it decides whether bf16 beats fp32 on a CPU",
         section="machine"),
    # The row's own count first (what its timed rounds ran with), else the machine block's.
    _req("torch_threads", int, "", "suite", "machine", "torch's intra-op threads",
         "`torch.get_num_threads()` while timing",
         also_read=(("run", "machine_info", "diffbench", "torch_threads"),)),
    # Contention during the row's timed rounds (issue 15 item 14); blank for runs saved before.
    _col("contended", bool, "", "suite", "machine",
         "other processes took more than the suite's stated share of the CPU during the timed rounds",
         "`other_cpu_pct` above 10%: another job shared the CPU, so the latency is not comparable with a "
         "quiet run (the suite warns once; reports and the gate show it)"),
    Field("load_avg_1m", float, "", "suite", "the 1-minute load average at the end of the timed rounds",
          nullable=False, column="load_avg", group="machine",
          summary="1-minute load average at the end of the timed rounds",
          also_read=(("extra_info", "load_avg"),)),
    _col("other_cpu_pct", float, "%", "suite", "machine",
         "CPU time other processes took during the timed rounds, % of the machine",
         "CPU time other processes (and the hypervisor's steal) took during the timed rounds, as % of wall "
         "time x CPUs, from `/proc/stat` less this process's own CPU time; null off Linux or for blocks "
         "under 0.2 s"),
    _col("datetime", datetime, "UTC", _BENCH, "context", "when the run was saved (UTC)", section="run",
         nullable=False),
    _col("source", str, "", "reports", "context", "path of the run file", section="file"),
    _col("name", str, "", _BENCH, "context", "pytest-benchmark's benchmark name",
         "pytest-benchmark's benchmark name, `test_generation[<variant>-<workload with - for />]`",
         section="benchmark", nullable=False),
    # --- fields no column shows ---------------------------------------------------------------
    _f("schema", int, "", "suite", f"the row schema, {SCHEMA}", nullable=False),
    _f("workload_detail", dict, "", "suite",
       "`{\"width\", \"height\", \"steps\", \"guidance\", \"batch\", \"scheduler\", \"prompt\", \"seed\"}` "
       "(the web UI study adds `negative_prompt`)", nullable=False),
    _f("interleaved", bool, "", "suite",
       "true when `--interleave` timed the row: the rounds of every variant of its workload ran in "
       "alternation (round k of each before round k+1 of any, the order rotated each round), so a slow "
       "minute of the machine hit them alike; false for a row timed alone (and for `--offload auto`'s "
       "retry, which is timed alone); null in runs saved before the option"),
    _f("projection_kernels", int, "", "collector profile_fit",
       "kernels (traced ops) per UNet step behind the projection's launch term"),
    _f("projected_step_ms_profiles", dict, "ms", "collector profile_fit",
       "`projected_step_ms` for every GPU profile known to the run (null where the card cannot run the "
       "dtype)", items=float),
    _f("negative_prompt", str, "", "webui", "the negative prompt the web UI study sent", section=_WORKLOAD),
    _f("fullname", str, "", _BENCH,
       "the test's full node id; a row's identity across files with the run's datetime and machine",
       section="benchmark", nullable=False),
    # machine_info["diffbench"] (bench/machine.py)
    _f("schema", int, "", "machine", f"the row schema, {SCHEMA}", section="machine", nullable=False),
    _f("hostname", str, "", "machine", "the host's name", section="machine", nullable=False),
    _f("cpu", str, "", "machine", "the CPU's brand", section="machine", nullable=False),
    _f("cpu_cores", int, "", "machine", "logical CPUs", section="machine", nullable=False),
    _f("cpu_flags", list, "", "machine",
       "which of `avx2`, `avx512f`, `avx512_vnni`, `avx512_bf16`, `amx_bf16`, `amx_int8` the CPU has",
       section="machine", nullable=False),
    _f("torch_threads", int, "", "machine", "`torch.get_num_threads()` when the run started",
       section="machine", nullable=False),
    _f("omp_num_threads", str, "", "machine", "`OMP_NUM_THREADS`, null when unset", section="machine"),
    _f("ram_gib", float, "GiB", "machine", "the machine's RAM", section="machine", nullable=False),
    _f("gpu_driver", str, "", "machine", "the NVIDIA driver version; null without a GPU or NVML",
       section="machine"),
    _f("cuda", str, "", "machine", "torch's CUDA version; null for a CPU build of torch", section="machine"),
    _f("versions", dict, "", "machine",
       "`{\"torch\", \"diffusers\", \"transformers\", \"onnxruntime\", \"onnxruntime-gpu\", \"tensorrt\", "
       "\"diffbench\"}`: installed versions, null where not installed", section="machine", nullable=False,
       items=str),
    # output_json["diffbench"] (bench/plugin.py; a recovered run's from bench/journal.py)
    _f("schema", int, "", "suite", f"the row schema, {SCHEMA}", section="diffbench", nullable=False),
    _f("rows", list, "", "suite",
       "the variants that could not be timed (`unsupported`, `oom`, `error`, `timeout`), each `{\"name\", "
       "\"fullname\", \"extra_info\"}` with the row keys above, status and reason set, timings null",
       section="diffbench", nullable=False),
    _f("partial", bool, "", "journal",
       "true when the run was recovered from a journal its process left (killed before the end)",
       section="diffbench"),
    _f("recovered_from", str, "", "journal", "the journal file the run was recovered from",
       section="diffbench"),
    _f("started", str, "UTC", "journal", "when the recovered run started (ISO-8601)", section="diffbench"),
    # The web UI load study's own keys (bench/webui/runs.py); its rows carry the suite's keys too.
    _f("url", str, "", "webui", "the web UI's address"),
    _f("concurrency", int, "", "webui", "requests in flight at once"),
    _f("requests", int, "", "webui", "requests sent at this level"),
    _f("completed", int, "", "webui", "requests that returned images"),
    _f("errors", int, "", "webui", "requests that failed"),
    _f("error_reasons", dict, "", "webui", "how many requests failed for each reason", items=int),
    _f("wall_s", float, "s", "webui", "wall time of the level, all requests"),
    _f("images", int, "", "webui", "images returned"),
    _f("throughput_ips", float, "images/s", "webui", "images per second over the level's wall time"),
    _f("peak_vram_used_mib", float, "MiB", "webui", "the device's peak used memory during the level (NVML)"),
    _f("idle_vram_used_mib", float, "MiB", "webui", "the device's used memory before the level (NVML)"),
    _f("vram_note", str, "", "webui", "why the VRAM figures are missing or what they include"),
    _f("loadavg_1m", float, "", "webui", "the 1-minute load average at the end of the level"),
)
# fmt: on


# --- lookups -------------------------------------------------------------------------------------


def fields_in(section: str) -> tuple[Field, ...]:
    return tuple(field for field in FIELDS if field.section == section)


def field(section: str, name: str) -> Field:
    """The field `name` of `section`; KeyError naming the declared ones when there is none."""
    for candidate in fields_in(section):
        if candidate.name == name:
            return candidate
    raise KeyError(f"{section}.{name} is not a field of the run record")


def _column_name(field_: Field) -> str | None:
    return field_.name if field_.column == SAME else field_.column


def _columns() -> tuple[Column, ...]:
    columns: list[Column] = []
    for field_ in FIELDS:
        summary = field_.summary or field_.meaning
        for key in field_.per_item:
            # One column per built-in profile: fits_rtx3050_laptop from fits_profiles["rtx3050-laptop"].
            name = f"{field_.name.removesuffix('_profiles')}_{key.replace('-', '_')}"
            item_type = field_.items or str
            summary_ = field_.summary.format(key)
            columns.append(
                Column(name, item_type, ((*field_.path, key),), summary_, field_.unit, field_.group)
            )
        name = _column_name(field_)
        if name is not None:
            sources = (field_.path, *field_.also_read)
            columns.append(Column(name, field_.type, sources, summary, field_.unit, field_.group))
    return tuple(columns)


COLUMNS: tuple[Column, ...] = _columns()


def type_problems(section: str, values: Mapping[str, Any]) -> list[str]:
    """What in `values` (one object of `section`) the record does not declare, or types otherwise.

    Null is always accepted (a row that never measured a field holds null); an int is a float.
    """
    declared = {field_.name: field_ for field_ in fields_in(section)}
    problems: list[str] = []
    for key, value in values.items():
        if key not in declared:
            problems.append(f"{section}.{key} is not declared in reports/record.py")
            continue
        wanted = declared[key]
        if not _is_a(value, wanted.type):
            problems.append(f"{section}.{key}={value!r:.60} is not {wanted.type_name}")
        elif isinstance(value, dict) and wanted.items is not None:
            bad = [k for k, v in value.items() if not _is_a(v, wanted.items)]
            if bad:
                problems.append(f"{section}.{key}: values of {bad} are not {TYPE_NAMES[wanted.items]}")
    return problems


def _is_a(value: Any, wanted: type) -> bool:
    if value is None:
        return True
    if wanted is datetime:
        return isinstance(value, str)
    if wanted is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if wanted is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, wanted)


def run_problems(doc: Mapping[str, Any]) -> list[str]:
    """Every undeclared or wrong-typed key of a saved run's diffbench parts (rows, machine, section)."""
    problems = type_problems("machine", doc.get("machine_info", {}).get("diffbench") or {})
    section = doc.get("diffbench") or {}
    problems += type_problems("diffbench", section)
    for entry in [*doc.get("benchmarks", []), *section.get("rows", [])]:
        info = entry.get("extra_info") or {}
        problems += type_problems("extra_info", info)
        problems += type_problems("workload_detail", info.get("workload_detail") or {})
    return problems


# --- docs/run-format.md ----------------------------------------------------------------------------

_BEGIN = "<!-- generated by `python -m reports.record --write docs/run-format.md`: {name} -->"
_END = "<!-- end of generated {name} -->"
# The tables docs/run-format.md holds, by the name its markers carry.
TABLES: tuple[str, ...] = ("machine", "extra_info", "workload_detail", "diffbench", "webui", "columns")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _field_row(field_: Field) -> str:
    type_text = field_.type_name + (" or null" if field_.nullable else "")
    if field_.per_item:
        columns = [column.name for column in COLUMNS if column.sources[0][:-1] == field_.path]
    else:
        columns = [name] if (name := _column_name(field_)) else []
    shown = ", ".join(f"`{column}`" for column in columns)
    cells = [f"`{field_.name}`", type_text, field_.unit, field_.filled_by, shown, field_.meaning]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def field_table(name: str) -> str:
    """The markdown table of one section (or `webui`: the web UI study's own row keys)."""
    if name == "columns":
        return column_table()
    if name == "webui":
        chosen = [f for f in fields_in("extra_info") if f.filled_by == "webui"]
    else:
        chosen = [f for f in fields_in(name) if not (name == "extra_info" and f.filled_by == "webui")]
    lines = [
        "| key | type | unit | filled by | report column | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    return "\n".join([*lines, *(_field_row(f) for f in chosen)])


def column_table() -> str:
    lines = [
        "| column | type | unit | read from (first non-null) | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for column in COLUMNS:
        sources = ", ".join("`" + ".".join(source) + "`" for source in column.sources)
        cells = [f"`{column.name}`", column.kind, column.unit, sources, column.summary]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def render_doc(text: str) -> str:
    """`text` with every generated block between its markers replaced by the record's table."""
    for name in TABLES:
        begin, end = _BEGIN.format(name=name), _END.format(name=name)
        pattern = re.compile(re.escape(begin) + r"\n.*?\n" + re.escape(end), re.DOTALL)
        found = pattern.search(text)
        if found is None:
            raise ValueError(f"no generated block {name!r}: add the lines {begin!r} and {end!r}")
        text = f"{text[: found.start()]}{begin}\n{field_table(name)}\n{end}{text[found.end() :]}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.record", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--markdown", action="store_true", help="print every field table")
    action.add_argument("--write", metavar="DOC", type=Path, help="rewrite the generated tables of DOC")
    action.add_argument(
        "--check", metavar="DOC", type=Path, help="exit 1 when DOC's tables are not the record's"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        for name in TABLES:
            print(f"## {name}\n\n{field_table(name)}\n")
        return 0
    doc: Path = args.write or args.check
    try:
        text = doc.read_text(encoding="utf-8")
        rendered = render_doc(text)
    except (OSError, ValueError) as error:
        print(f"error: {doc}: {error}", file=sys.stderr)
        return 2
    if args.write:
        doc.write_text(rendered, encoding="utf-8")
        return 0
    if rendered != text:
        print(
            f"{doc} differs from the run record: run python -m reports.record --write {doc}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
