"""The report's columns: their order, their type, and where each one comes from in a saved run.

The loader is generic over this table, so adding a column is one line here. Each column
names one or more *sources*; the first source that holds a non-null value wins. A source is
a path of keys into the per-row context the loader builds:

- ``file``: ``{"run": <file stem>, "source": <file path>}``
- ``run``: the whole pytest-benchmark JSON document
- ``benchmark``: the benchmark entry (or the ``diffbench.rows`` entry for a failure row)
- ``extra_info``: that entry's ``extra_info``
- ``stats``: that entry's ``stats`` (empty for failure rows, so their latencies are NaN)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["str", "float", "int", "bool", "datetime"]
Source = tuple[str, ...]

# pandas dtype of each kind: every one holds a missing value (NaN / <NA> / NaT) without
# falling back to object, so numeric columns stay numeric (`df.latency_median_s > 0` works).
DTYPES: dict[Kind, str] = {
    "str": "str",
    "float": "float64",
    "int": "Int64",
    "bool": "boolean",
    "datetime": "datetime64[us, UTC]",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    sources: tuple[Source, ...]
    doc: str

    @property
    def dtype(self) -> str:
        return DTYPES[self.kind]


def _extra(name: str, kind: Kind, doc: str, key: str | None = None) -> Column:
    """A column read from ``extra_info`` under its own name (or ``key``)."""
    return Column(name, kind, (("extra_info", key or name),), doc)


def _fits(profile: str) -> Column:
    """Whether the variant fits one hardware profile (from the row's ``fits_profiles``)."""
    name = f"fits_{profile.replace('-', '_')}"
    return Column(name, "bool", (("extra_info", "fits_profiles", profile),), f"fits the {profile} profile")


_DIFFBENCH_MACHINE: Source = ("run", "machine_info", "diffbench")

COLUMN_SPECS: tuple[Column, ...] = (
    # The required columns, in this order.
    Column("run", "str", (("file", "run"),), "the run file's stem, e.g. 0001_first"),
    Column(
        "machine",
        "str",
        ((*_DIFFBENCH_MACHINE, "machine"), ("run", "machine_info", "node")),
        "diffbench machine fingerprint, else pytest-benchmark's node name",
    ),
    _extra("model", "str", "model registry name or local path"),
    _extra("variant", "str", "canonical recipe text"),
    _extra("profile", "str", "hardware profile"),
    _extra("device", "str", "torch device"),
    _extra("status", "str", "ok, nan, oom, unsupported, error, timeout"),
    _extra("workload", "str", "canonical workload text"),
    Column("latency_median_s", "float", (("stats", "median"),), "median seconds per call"),
    Column("latency_iqr_s", "float", (("stats", "iqr"),), "interquartile range of seconds per call"),
    _extra("step_median_ms", "float", "median denoising step time"),
    _extra("build_s", "float", "time to build or load the variant"),
    _extra("peak_vram_mib", "float", "torch.cuda.max_memory_allocated", key="peak_vram_allocated_mib"),
    _extra("peak_ram_mib", "float", "the variant's peak RSS while generating, the source model not resident"),
    _extra("params", "int", "parameters of all pipeline components"),
    _extra("size_mb", "float", "bytes on disk of the variant's artefacts / 1e6"),
    _extra("psnr_vs_baseline", "float", "dB against the baseline image; inf when identical"),
    _extra("fid", "float", "Frechet inception distance"),
    # Extras.
    _extra("reason", "str", "why, when status is not ok"),
    _extra("weights", "str", "random or the local weights path"),
    _extra("dtype", "str", "compute dtype of the UNet"),
    _extra("cache_hit", "bool", "the variant came from the variant cache"),
    _extra("build_peak_ram_mib", "float", "peak RSS while the variant was built (or loaded from the cache)"),
    _extra("ram_start_mib", "float", "RSS when measuring began: the variant resident, nothing generated"),
    _extra("ram_source", "str", "kernel-hwm (the kernel's exact peak) or sampled (a thread's samples)"),
    _extra("baseline_variant", "str", "the variant PSNR is measured against"),
    _extra("step_iqr_ms", "float", "interquartile range of the denoising step time"),
    _extra("first_call_s", "float", "first generation after the build"),
    _extra("text_encoder_s", "float", "median text-encoder time per generation"),
    _extra("vae_decode_s", "float", "median VAE decode time per generation"),
    _extra("generator_s", "float", "median GAN generator G(z) time per generation"),
    _extra("family", "str", "model family: stable-diffusion, ddpm, vae or gan"),
    _extra("provider", "str", "execution provider the exported graphs really ran on; NaN for torch"),
    _extra("checkpoint", "str", "the fine-tuning checkpoint applied (UNet checkpoint, LoRA, embedding)"),
    _extra("adapters", "str", "every --unet-checkpoint/--lora/--textual-inversion applied, with scales"),
    Column("steps", "int", (("extra_info", "workload_detail", "steps"),), "denoising steps per generation"),
    # The rest of the workload, one column per sweep axis (bench/sweep.py).
    Column("guidance", "float", (("extra_info", "workload_detail", "guidance"),), "guidance scale"),
    Column("scheduler", "str", (("extra_info", "workload_detail", "scheduler"),), "the scheduler"),
    Column("width", "int", (("extra_info", "workload_detail", "width"),), "image width, pixels"),
    Column("height", "int", (("extra_info", "workload_detail", "height"),), "image height, pixels"),
    Column("batch", "int", (("extra_info", "workload_detail", "batch"),), "images per prompt"),
    Column("seed", "int", (("extra_info", "workload_detail", "seed"),), "seed of the initial latents"),
    Column("prompt", "str", (("extra_info", "workload_detail", "prompt"),), "the prompt"),
    Column("latency_mean_s", "float", (("stats", "mean"),), "mean seconds per call"),
    Column("latency_min_s", "float", (("stats", "min"),), "fastest call, seconds"),
    # diffbench's own count first; a plain pytest-benchmark run still has stats.rounds.
    Column("rounds", "int", (("extra_info", "rounds"), ("stats", "rounds")), "timed rounds"),
    _extra("peak_vram_reserved_mib", "float", "torch.cuda.max_memory_reserved"),
    _extra("peak_vram_nvml_mib", "float", "NVML process memory, CUDA context included"),
    _extra("peak_vram_nvml_basis", "str", "process (NVML saw this process) or the device's memory growth"),
    _extra("vram_source", "str", "where VRAM is read: torch-allocator, nvml-device-delta, host"),
    _extra("vram_capped", "bool", "the emulated profile's memory cap bound this variant"),
    _extra("vram_cap_note", "str", "why the cap did not bind (ONNX Runtime's own arena)"),
    _extra("gpu_util_pct", "float", "mean NVML GPU utilisation during the generations, %; NaN on CPU"),
    _extra("macs_g", "float", "multiply-accumulates per generated image, all stages, billions"),
    _extra("unet_macs_g", "float", "multiply-accumulates of one UNet call for one image, billions"),
    _extra(
        "param_mb", "float", "bytes of parameters and buffers in memory / 1e6, quantised layers as stored"
    ),
    _extra("quantised_layers", "int", "Linear layers the recipe's quantisation passes replaced"),
    _extra("skipped_layers", "int", "chosen layers the quantisation library refused (left float)"),
    _extra("quantised_bytes_ratio", "float", "bytes of the quantised layers / their fp32 bytes"),
    _extra("fid_n", "int", "samples per variant behind fid and kid"),
    _extra("fid_ref", "str", "what fid is measured against: a folder, a built-in set, or baseline"),
    _extra("fid_dims", "int", "Inception feature size used for fid and kid"),
    _extra("fid_s", "float", "seconds of Inception features + distances for the variant's samples"),
    _extra("kid", "float", "kernel inception distance (unbiased MMD^2, polynomial kernel)"),
    _extra("kid_std", "float", "standard deviation of kid over its subsets"),
    _extra("is", "float", "Inception score; NaN: the FID Inception file has no logits"),
    _extra("quality_note", "str", "caveats of the quality figures (rank, IS, CLIP)"),
    _extra("device_name", "str", "the real device the row ran on (GPU or CPU name)"),
    _extra("emulated", "bool", "a larger GPU emulated the profile (memory capped, dtypes refused)"),
    _extra("emulation", "str", "how the profile was emulated, or why it was not"),
    _extra("offload", "str", "none, model or sequential: the CPU offload that made it fit"),
    _extra("offload_note", "str", "the out-of-memory that made --offload auto retry"),
    _extra("est_peak_mem_mib", "float", "estimated peak device memory of one generation (meta trace)"),
    _extra("est_weights_mib", "float", "estimated bytes of all weights on the device, MiB"),
    _extra("est_vs_measured_mib", "float", "est_peak_mem_mib minus the measured CUDA allocator peak"),
    _extra("fits", "bool", "est_peak_mem_mib fits the profile's memory less its CUDA-context reserve"),
    _extra("projected_latency_s", "float", "projected seconds per generation on the profile (roofline)"),
    _extra("projected_step_ms", "float", "projected UNet step on the profile, ms (roofline)"),
    _extra("projection", "str", "how the projection was made, or why there is none"),
    _extra("projection_efficiency", "float", "fraction of the profile's peak the projection assumed"),
    _extra("projection_note", "str", "set when the projection is launch-bound: model too small for the card"),
    _extra("fit_note", "str", "cards the row's dtype cannot run (fits false whatever the memory)"),
    _extra("dtype_note", "str", "set when the CPU only emulates the row's dtype (slower than fp32)"),
    _fits("gtx1650"),
    _fits("rtx3050-laptop"),
    _fits("rtx3050"),
    _fits("rtx3080"),
    _fits("rtx3080-12"),
    Column("gpu", "str", ((*_DIFFBENCH_MACHINE, "gpu"),), "GPU name; NaN on a machine without one"),
    Column(
        "cpu_capability",
        "str",
        ((*_DIFFBENCH_MACHINE, "cpu_capability"),),
        "torch's CPU kernel level (AVX2, AVX512): it decides whether bf16 beats fp32 on a CPU",
    ),
    # The row's own count first (what its timed rounds ran with), else the machine block's.
    Column(
        "torch_threads",
        "int",
        (("extra_info", "torch_threads"), (*_DIFFBENCH_MACHINE, "torch_threads")),
        "torch's intra-op threads",
    ),
    # Contention during the row's timed rounds (issue 15 item 14); blank for runs saved before.
    _extra(
        "contended",
        "bool",
        "other processes took more than the suite's stated share of the CPU during the timed rounds",
    ),
    # bench writes the 1-minute figure as load_avg_1m; either name reads.
    Column(
        "load_avg",
        "float",
        (("extra_info", "load_avg"), ("extra_info", "load_avg_1m")),
        "1-minute load average at the end of the timed rounds",
    ),
    _extra(
        "other_cpu_pct", "float", "CPU time other processes took during the timed rounds, % of the machine"
    ),
    Column("datetime", "datetime", (("run", "datetime"),), "when the run was saved (UTC)"),
    Column("source", "str", (("file", "source"),), "path of the run file"),
    Column("name", "str", (("benchmark", "name"),), "pytest-benchmark's benchmark name"),
)

COLUMNS: list[str] = [column.name for column in COLUMN_SPECS]
BY_NAME: dict[str, Column] = {column.name: column for column in COLUMN_SPECS}
