"""Root pytest configuration: the suite's options and the machine fingerprint.

The options only matter to `pytest bench/`; `pytest tests/` ignores them.
"""

from __future__ import annotations

import os

# No model hub here or in CI: anything that tries to download must fail fast, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import pytest

pytest_plugins = ("bench.plugin", "bench.journal_plugin")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("diffbench", "diffbench benchmark suite")
    group.addoption(
        "--model",
        default="tiny-sd",
        help="registry name (tiny-sd, sd15, sd21, sdxl) or local diffusers folder",
    )
    group.addoption(
        "--weights", default="random", help="'random' or a local diffusers folder / .safetensors file"
    )
    group.addoption(
        "--variants",
        default=None,
        help="comma-separated recipes, e.g. 'fp32,bf16,prune(0.3)+bf16' "
        "(default: baseline + every pass available here)",
    )
    group.addoption("--resolution", default="64", help="WIDTH or WIDTHxHEIGHT, multiples of 8 (default 64)")
    group.addoption("--steps", default="4", help="denoising steps (default 4)")
    group.addoption("--batch", default="1", help="images per prompt (default 1)")
    group.addoption("--guidance", default="7.5", help="classifier-free guidance scale (default 7.5)")
    group.addoption(
        "--scheduler", default="euler", help="euler, ddim, dpm++2m, pndm, or default (the model's own)"
    )
    group.addoption("--prompt", default="a photograph of an astronaut riding a horse", help="the prompt")
    group.addoption(
        "--seed", default=0, type=int, help="seed of the initial latents (same for every variant)"
    )
    group.addoption("--rounds", default="5", help="timed rounds per benchmark, after warm-up (default 5)")
    group.addoption("--warmup", default="1", help="untimed generations after the first call (default 1)")
    group.addoption("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
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


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    from bench.machine import machine_info as diffbench_machine_info

    machine_info["diffbench"] = diffbench_machine_info()
