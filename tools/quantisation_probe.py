"""Which layers are worth quantising on this machine, and does compiling make int8 pay?

Times one Stable Diffusion 1.5 transformer block (attention + GEGLU feed-forward, the
Linear layers the int8 passes quantise) and one SD1.5 ResNet block (the 3x3 convolutions
they leave alone) at the activation shapes of a 256x256 generation with classifier-free
guidance, in fp32, bf16, torchao int8 dynamic (all / attention-only / feed-forward-only
Linears), torchao int8 weight-only, and torch.ao's dynamic int8 Conv2d; then the block
compiled with inductor (fp32, int8, int8wo), with compile time reported separately; then
torch.profiler's top operators for eager int8. Random weights; results are ratios within
one run. Heavy (minutes): run it under the shared lock:

    flock /tmp/diffbench-heavy.lock .venv/bin/python tools/quantisation_probe.py [--resolution 256]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from tqdm import tqdm

import models  # noqa: F401  (before diffusers: filters the quantisation libraries' import noise)
from bench.profiles.detect import cpu_name

# SD1.5's first UNet level: 320 channels, 8 heads of 40, CLIP context 768, time embedding 1280.
CHANNELS, HEADS, CONTEXT, TIME = 320, 8, 768, 1280


def _median_ms(call: Callable[[], Any], rounds: int) -> tuple[float, float]:
    with torch.inference_mode():
        call()  # warm-up, not counted
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1e3)
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return statistics.median(times), quartiles[2] - quartiles[0]


def _quantised(block: torch.nn.Module, kind: str, only: str | None = None) -> torch.nn.Module:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_

    config = (
        Int8DynamicActivationInt8WeightConfig(set_inductor_config=False)
        if kind == "int8"
        else Int8WeightOnlyConfig(set_inductor_config=False)
    )
    copy_ = copy.deepcopy(block)

    def chosen(module: torch.nn.Module, name: str) -> bool:
        if not isinstance(module, torch.nn.Linear):
            return False
        return only is None or (only == "attention") == name.startswith(("attn1", "attn2"))

    quantize_(copy_, config, filter_fn=chosen)
    return copy_


def _dynamic_int8_convs(block: torch.nn.Module) -> torch.nn.Module:
    """torch.ao's dynamic int8 Conv2d (x86 engine) in place of every Conv2d of a copy."""
    from torch.ao.nn.quantized.dynamic import Conv2d as DynamicConv2d
    from torch.ao.quantization import default_dynamic_qconfig

    copy_ = copy.deepcopy(block)
    with warnings.catch_warnings():
        # torch.ao's quantised-tensor API is deprecated and warns that this module is imprecise:
        # known, and the point here is its speed.
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*deprecated")
        warnings.filterwarnings("ignore", message=".*DynamicQuantizedConv2d module has poor numerical")
        for name, module in list(copy_.named_modules()):
            if type(module) is torch.nn.Conv2d:
                module.qconfig = default_dynamic_qconfig
                parent, _, child = name.rpartition(".")
                setattr(
                    copy_.get_submodule(parent) if parent else copy_, child, DynamicConv2d.from_float(module)
                )
    return copy_


def _transformer_block() -> torch.nn.Module:
    from diffusers.models.attention import BasicTransformerBlock

    return BasicTransformerBlock(
        CHANNELS, HEADS, CHANNELS // HEADS, cross_attention_dim=CONTEXT, activation_fn="geglu"
    ).eval()


def run(resolution: int, rounds: int, compile_too: bool) -> list[dict[str, Any]]:
    from diffusers.models.resnet import ResnetBlock2D

    torch.manual_seed(0)
    tokens = (resolution // 8) ** 2
    hidden = torch.randn(2, tokens, CHANNELS)
    context = torch.randn(2, 77, CONTEXT)
    feature_map = torch.randn(2, CHANNELS, resolution // 8, resolution // 8)
    time_embedding = torch.randn(2, TIME)
    transformer = _transformer_block()
    resnet = ResnetBlock2D(in_channels=CHANNELS, out_channels=CHANNELS, temb_channels=TIME).eval()

    def on_transformer(block: torch.nn.Module, dtype: torch.dtype = torch.float32) -> Callable[[], Any]:
        h, c = hidden.to(dtype), context.to(dtype)
        return lambda: block(h, encoder_hidden_states=c)

    def on_resnet(block: torch.nn.Module, dtype: torch.dtype = torch.float32) -> Callable[[], Any]:
        x, t = feature_map.to(dtype), time_embedding.to(dtype)
        return lambda: block(x, t)

    bf16 = torch.bfloat16
    cases: list[tuple[str, str, Callable[[], Callable[[], Any]]]] = [
        ("transformer block", "fp32", lambda: on_transformer(transformer)),
        ("transformer block", "bf16", lambda: on_transformer(copy.deepcopy(transformer).to(bf16), bf16)),
        ("transformer block", "int8 (all Linear)", lambda: on_transformer(_quantised(transformer, "int8"))),
        (
            "transformer block",
            "int8 (attention only)",
            lambda: on_transformer(_quantised(transformer, "int8", "attention")),
        ),
        (
            "transformer block",
            "int8 (ff only)",
            lambda: on_transformer(_quantised(transformer, "int8", "ff")),
        ),
        (
            "transformer block",
            "int8wo (all Linear)",
            lambda: on_transformer(_quantised(transformer, "int8wo")),
        ),
        ("resnet block", "fp32", lambda: on_resnet(resnet)),
        ("resnet block", "bf16", lambda: on_resnet(copy.deepcopy(resnet).to(bf16), bf16)),
        ("resnet block", "int8 dynamic conv (torch.ao)", lambda: on_resnet(_dynamic_int8_convs(resnet))),
    ]
    if compile_too:
        for label, make in (
            ("fp32", lambda: transformer),
            ("int8", lambda: _quantised(transformer, "int8")),
            ("int8wo", lambda: _quantised(transformer, "int8wo")),
        ):
            cases.append(("transformer block", f"{label} + torch.compile", _compiled(make, on_transformer)))
    rows: list[dict[str, Any]] = []
    for block, variant, prepare in tqdm(cases, desc="probe", file=sys.stderr):
        started = time.perf_counter()
        call = prepare()
        setup_s = time.perf_counter() - started
        median, iqr = _median_ms(call, rounds)
        rows.append(
            {"block": block, "variant": variant, "median_ms": median, "iqr_ms": iqr, "setup_s": setup_s}
        )
    return rows


def _compiled(
    make: Callable[[], torch.nn.Module], on: Callable[[torch.nn.Module], Callable[[], Any]]
) -> Callable[[], Callable[[], Any]]:
    def prepare() -> Callable[[], Any]:
        import torchao.quantization.utils

        torch._dynamo.reset()
        # torchao's recommended inductor settings for its int8 kernels (mm + rescale fusion).
        torchao.quantization.utils.recommended_inductor_config_setter()
        compiled = torch.compile(make(), mode="max-autotune-no-cudagraphs", dynamic=False)
        call = on(compiled)
        with torch.inference_mode():
            call()  # compile now: its time is the case's setup_s, never its latency
        return call

    return prepare


def profile_int8(resolution: int) -> str:
    torch.manual_seed(0)
    quantised = _quantised(_transformer_block(), "int8")
    hidden = torch.randn(2, (resolution // 8) ** 2, CHANNELS)
    context = torch.randn(2, 77, CONTEXT)
    with torch.inference_mode():
        quantised(hidden, encoder_hidden_states=context)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
            for _ in range(2):
                quantised(hidden, encoder_hidden_states=context)
    return profiler.key_averages().table(
        sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40
    )


def table(rows: list[dict[str, Any]]) -> str:
    baseline = {row["block"]: row["median_ms"] for row in rows if row["variant"] == "fp32"}
    lines = [
        "| block | variant | median ms | IQR ms | vs fp32 | setup / compile s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        ratio = row["median_ms"] / baseline[row["block"]]
        lines.append(
            f"| {row['block']} | {row['variant']} | {row['median_ms']:.1f} | {row['iqr_ms']:.1f} | "
            f"{ratio:.2f}x | {row['setup_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per case (default 5)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile cases (minutes)")
    options = parser.parse_args(argv)
    if options.resolution < 8 or options.resolution % 8 or options.rounds < 1:
        parser.error(f"--resolution {options.resolution} must be a multiple of 8, --rounds at least 1")
    print(
        f"CPU: {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"ATen CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    print(table(run(options.resolution, options.rounds, not options.no_compile)))
    print("\ntorch.profiler, eager int8 transformer block (2 calls), top operators by self CPU time:\n")
    print(profile_int8(options.resolution))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
