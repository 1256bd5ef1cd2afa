"""The `compile` pass (torch.compile with inductor) on tiny-sd on the CPU.

A file of its own: the first inductor compile of a graph on a machine is most of a minute of
C++ builds, so `pytest tests/`'s workers (one file each at a time) take these apart from the
ONNX tests instead of after them.
"""

from __future__ import annotations

import torch

from bench.generate import generate
from bench.instruments.quality import psnr
from bench.warmups import warmups_for
from bench.workload import make_workload
from optimize import VariantCache, build_variant, parse_recipe

CPU = torch.device("cpu")
WORKLOAD = make_workload("64", 3, 1, 7.5, "euler", "a red fox in the snow", 0)


def test_compile_over_bf16_keeps_bf16_records_its_warm_up_and_reloads_compiled(tiny_model, tmp_path):
    # The recipe that met issue 5's sd15 speed target on the AVX-512/AMX build VM.
    cache = VariantCache(tmp_path / "variants")
    recipe = parse_recipe("bf16+compile")
    built = build_variant(tiny_model, recipe, CPU, cache)
    assert type(built.pipeline.unet).__name__ == "OptimizedModule"  # torch.compile's wrapper
    assert built.pipeline.unet.dtype == torch.bfloat16
    assert built.manifest["checks"]["compile"]["warmup_s"] > 0  # the compile happened in the build
    eager = build_variant(tiny_model, parse_recipe("bf16"), CPU, cache)
    for variant in (built, eager):
        variant.pipeline.set_progress_bar_config(disable=True)
    compiled_image = generate(built.pipeline, WORKLOAD, CPU)
    eager_image = generate(eager.pipeline, WORKLOAD, CPU)
    assert psnr(eager_image, compiled_image) > 30  # same bf16 model; inductor may fuse and round differently
    again = build_variant(tiny_model, recipe, CPU, cache)
    assert again.cache_hit and type(again.pipeline.unet).__name__ == "OptimizedModule"
    assert psnr(compiled_image, generate(again.pipeline, WORKLOAD, CPU)) > 60


def test_compile_static_passes_dynamic_false_to_torch_compile():
    from optimize.export.compiled import compile_options

    # `dynamic or None` once turned False into None: automatic dynamic, a recompile in whichever
    # call first met a second shape.
    assert compile_options("default", False)["dynamic"] is False
    assert compile_options("default", True)["dynamic"] is True


def test_compile_warms_up_at_the_workload_so_its_first_call_compiles_nothing(tiny_model, tmp_path):
    from torch._dynamo import reset as reset_dynamo

    from optimize.export.compiled import compiled_graph_count

    # Not the default warm-up's shape: 48 px, batch 2, DDIM (integer timesteps).
    workload = make_workload("48", 3, 2, 7.5, "ddim", "a red fox in the snow", 0)
    warmups = warmups_for([workload, make_workload("48", 5, 2, 7.5, "ddim", "a cat", 3)], CPU)
    assert list(warmups) == [workload.label]  # same shapes: one warm-up
    cache = VariantCache(tmp_path / "variants")
    reset_dynamo()  # this test counts graphs: none from earlier tests
    built = build_variant(tiny_model, parse_recipe("compile"), CPU, cache, warmups=warmups)
    assert built.pipeline.unet.dynamo_ctx._dynamic is False  # torch.compile's own record of it
    check = built.manifest["checks"]["compile"]
    assert check["dynamic"] is False and check["warmup_workloads"] == [workload.label]
    assert check["graphs_compiled"] > 0  # the compile happened in the build
    before = compiled_graph_count()
    generate(built.pipeline, workload, CPU)
    assert compiled_graph_count() == before  # no recompilation in the first call
    # A cache hit compiles again, at this run's workloads and on this run's device.
    reset_dynamo()
    again = build_variant(tiny_model, parse_recipe("compile"), CPU, cache, warmups=warmups)
    assert again.cache_hit and again.pipeline.compile_reload["graphs_compiled"] > 0
    before = compiled_graph_count()
    generate(again.pipeline, workload, CPU)
    assert compiled_graph_count() == before
