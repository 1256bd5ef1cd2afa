"""Reliability promises: concurrent builds, time limits, and fuzzed parsers that only raise our errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimize import PassError, parse_recipe

ROOT = Path(__file__).resolve().parents[2]

_BUILD_SLOWLY = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import torch
    from models import load_model
    from optimize import VariantCache, build_variant, parse_recipe
    from optimize.formats.state_dict import StateDictFormat

    original = StateDictFormat.save
    def slow_save(self, pipeline, folder, recipe):
        time.sleep(2.0)  # hold the build open so the other process arrives while it runs
        return original(self, pipeline, folder, recipe)
    StateDictFormat.save = slow_save

    model = load_model("tiny-sd")
    Path(sys.argv[2]).write_text("ready")
    while not all(Path(p).exists() for p in sys.argv[3:]):
        time.sleep(0.01)
    variant = build_variant(model, parse_recipe("bf16"), torch.device("cpu"), VariantCache(Path(sys.argv[1])))
    print(json.dumps({"hit": variant.cache_hit, "key": variant.manifest["key"]}))
    """
)


def test_two_processes_building_one_variant_build_it_once(tmp_path):
    cache = tmp_path / "cache"
    ready = [tmp_path / "a.ready", tmp_path / "b.ready"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    pipe = subprocess.PIPE
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD_SLOWLY, str(cache), str(mine), *map(str, ready)],
            cwd=ROOT,
            env=env,
            stdout=pipe,
            stderr=pipe,
            text=True,
        )
        for mine in ready
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["hit"] for r in results) == [False, True], "exactly one process may build"
    assert results[0]["key"] == results[1]["key"]
    entries = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1

    from optimize import VariantCache

    assert VariantCache(cache).load(results[0]["key"]) is not None  # checksums verify


def test_timeout_turns_a_slow_benchmark_into_a_timeout_row(tmp_path):
    env = {**os.environ, "DIFFBENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "pytest", "bench/", "-q", "-p", "no:cacheprovider",
        f"--benchmark-storage={tmp_path / 'storage'}", "--benchmark-save=slow", "--variants=fp32",
        "--steps=50", "--rounds=3", "--timeout=0.5",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (saved,) = (tmp_path / "storage").rglob("*_slow.json")
    run = json.loads(saved.read_text())
    assert run["benchmarks"] == []
    (row,) = run["diffbench"]["rows"]
    assert row["extra_info"]["status"] == "timeout"
    assert "exceeded --timeout 0.5 s" in row["extra_info"]["reason"]


# -- fuzzing: bad input may only raise the project's own errors --------------------------------

_RECIPE_ALPHABET = st.sampled_from(list("fpbint1680.3()+,=_- ")) | st.characters()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_RECIPE_ALPHABET, max_size=40))
def test_recipe_parser_raises_only_pass_errors(text):
    try:
        recipe = parse_recipe(text)
    except PassError as error:
        assert "\n" not in str(error)
    else:
        assert parse_recipe(recipe.canonical).canonical == recipe.canonical


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_RUN_KEYS = st.fixed_dictionaries(
    {},
    optional={
        "machine_info": _JSON,
        "benchmarks": st.lists(
            st.fixed_dictionaries({}, optional={"name": _JSON, "extra_info": _JSON, "stats": _JSON}),
            max_size=3,
        ),
        "datetime": _JSON,
        "diffbench": _JSON,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=_RUN_KEYS | _JSON, raw=st.binary(max_size=64))
def test_report_loader_raises_only_report_errors(tmp_path, document, raw):
    import reports

    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / "0001_doc.json").write_text(json.dumps(document))
    (folder / "0002_raw.json").write_bytes(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reports.ReportWarning)
        try:
            frame = reports.load([folder])
        except reports.ReportError as error:
            assert "\n" not in str(error)
        else:
            assert list(frame.columns) == reports.COLUMNS


@pytest.mark.parametrize("text", ["prune(", "fp16++", "", "(", ")", "a(b(c))", "x" * 10_000])
def test_known_nasty_recipes(text):
    with pytest.raises(PassError):
        parse_recipe(text)


_TOML_VALUE = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: repr(x).replace("inf", "inf")),
    st.text(max_size=6).map(json.dumps),
    st.sampled_from(["true", "false", "[8, 6]", '"8.6"', "[]", "{}", "nan", "-inf", "1e400"]),
)
_TOML_KEY = st.sampled_from(
    ["vram_gib", "bandwidth_gbs", "fp32_tflops", "fp16_tflops", "int8_tops", "bf16_tflops",
     "efficiency", "reserved_mib", "compute_capability", "tensor_cores", "known_issues", "bogus"]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(alphabet=st.sampled_from(list('abc-1_ .[]"')), min_size=0, max_size=8),
    fields=st.dictionaries(_TOML_KEY, _TOML_VALUE, max_size=8),
    garbage=st.text(max_size=30),
)
def test_profile_toml_loader_raises_only_profile_errors(tmp_path, name, fields, garbage):
    from bench.profiles.errors import ProfileError
    from bench.profiles.user import load_profiles

    body = "\n".join(f"{key} = {value}" for key, value in fields.items())
    text = f"[{name}]\n{body}\n{garbage}"
    path = tmp_path / "profiles.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        profiles = load_profiles(path)
    except ProfileError as error:
        assert "\n" not in str(error)
    else:
        assert profiles
