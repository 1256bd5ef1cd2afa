import pytest
import torch

from bench.errors import BenchError
from bench.options.model import default_variants, parse_variants
from bench.workload import Workload, make_workload, parse_resolution
from optimize import PASSES
from optimize.passes.registry import emulation_note

CPU = torch.device("cpu")


def test_default_variants_are_the_baseline_then_every_argument_free_pass():
    variants = default_variants(CPU)
    # More passes join as they land (quantisation, export, ...): check the rule, not a fixed list.
    # bf16/fp16 join where the device runs them natively (optimize/cpu_features.py); elsewhere
    # they run when named. Which ones depend on the CPU: test_profiles.py fakes both kinds.
    native = {name for name in ("bf16", "fp16") if emulation_note(PASSES[name], CPU) is None}
    assert variants[0] == "fp32" and set(variants) & {"bf16", "fp16"} == native
    assert variants[1:] == sorted(variants[1:]) and len(set(variants)) == len(variants)
    # Passes whose build takes minutes are run by name only, so the default run stays short.
    assert not {"compile", "onnx", "ort", "ort-int8", "trt"} & set(variants)


def test_variants_are_canonical_deduplicated_and_baseline_first():
    assert parse_variants("BF16, fp32 ,bf16", CPU) == ("fp32", "bf16")
    assert parse_variants(None, CPU) == tuple(default_variants(CPU))


def test_resolution_forms():
    assert parse_resolution("512") == (512, 512)
    assert parse_resolution("768x512") == (768, 512)
    for bad in ("65", "0", "x", "512x", "-8"):
        with pytest.raises(BenchError, match="--resolution"):
            parse_resolution(bad)


def test_workload_label_is_canonical():
    workload = make_workload("64", "4", "1", "7.5", "euler", "p", 0)
    assert workload == Workload(prompt="p")
    # A prompt other than the default is named by a short hash, so a prompt sweep's rows differ.
    assert workload.label == "64x64/4steps/cfg7.5/b1/euler/prompt-516b9783"
    assert Workload().label == "64x64/4steps/cfg7.5/b1/euler"
    assert Workload(seed=3).label == "64x64/4steps/cfg7.5/b1/euler/seed3"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("64", "0", "1", "7.5", "euler"), "--steps 0 must be at least 1"),
        (("64", "4", "two", "7.5", "euler"), "--batch 'two' is not an integer"),
        (("64", "4", "1", "high", "euler"), "--guidance 'high' is not a number"),
        (("64", "4", "1", "7.5", "lms"), "--scheduler 'lms' is unknown; accepted: euler, ddim"),
    ],
)
def test_bad_workload_values_name_the_value_and_what_is_accepted(args, named):
    with pytest.raises(BenchError) as error:
        make_workload(*args, prompt="p", seed=0)
    assert named in str(error.value)
