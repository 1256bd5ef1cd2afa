import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from optimize import build_variant, parse_recipe
from optimize.cache import MANIFEST


def _build(model, cache, recipe="bf16"):
    return build_variant(model, parse_recipe(recipe), torch.device("cpu"), cache)


def test_first_build_misses_then_hits_with_the_same_weights(tiny_model, cache):
    first = _build(tiny_model, cache)
    second = _build(tiny_model, cache)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.manifest["key"] == first.manifest["key"]
    for name in ("unet", "vae", "text_encoder"):
        a = getattr(first.pipeline, name).state_dict()
        b = getattr(second.pipeline, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert second.pipeline.unet.dtype == torch.bfloat16


def test_manifest_records_recipe_versions_device_and_checksums(tiny_model, cache):
    variant = _build(tiny_model, cache, "fp16")
    manifest = json.loads((cache.folder(variant.manifest["key"]) / MANIFEST).read_text())
    assert manifest["recipe"] == "fp16"
    assert manifest["model_fingerprint"] == tiny_model.fingerprint
    assert manifest["versions"]["torch"].startswith("2.")
    assert manifest["device"].startswith("cpu/")
    assert manifest["dtypes"]["unet"] == "float16"
    assert set(manifest["artefacts"]) == {"unet.safetensors", "vae.safetensors", "text_encoder.safetensors"}
    assert variant.size_bytes == sum(item["bytes"] for item in manifest["artefacts"].values())
    # half-precision weights take half the bytes of the fp32 baseline
    baseline = _build(tiny_model, cache, "fp32")
    assert 0.45 < variant.size_bytes / baseline.size_bytes < 0.55


def test_different_recipes_get_different_entries(tiny_model, cache):
    keys = {_build(tiny_model, cache, r).manifest["key"] for r in ("fp32", "fp16", "bf16")}
    assert len(keys) == 3


def test_corrupt_entry_is_detected_and_rebuilt(tiny_model, cache):
    variant = _build(tiny_model, cache)
    weights = cache.folder(variant.manifest["key"]) / "unet.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt .*moved to"):
        rebuilt = _build(tiny_model, cache)
    assert rebuilt.cache_hit is False
    # set aside, not deleted: the damaged bytes are still there to look at
    [aside] = (cache.root / ".quarantine").iterdir()
    assert (aside / "unet.safetensors").read_bytes() == bytes(data)
    assert _build(tiny_model, cache).cache_hit is True


def test_truncated_manifest_is_rebuilt(tiny_model, cache):
    variant = _build(tiny_model, cache)
    (cache.folder(variant.manifest["key"]) / MANIFEST).write_text("{")
    with pytest.warns(UserWarning, match="unreadable manifest"):
        assert _build(tiny_model, cache).cache_hit is False


def test_failed_build_leaves_no_entry(tiny_model, cache, monkeypatch):
    from optimize.formats.state_dict import StateDictFormat

    def broken_save(self, pipeline, folder, recipe):
        (folder / "partial.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(StateDictFormat, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        _build(tiny_model, cache)
    leftovers = [p for p in cache.root.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_unsupported_recipe_builds_nothing(tiny_model, cache):
    from optimize import PassUnsupported

    with pytest.raises(PassUnsupported, match="fp16\\+bf16 on cpu"):
        _build(tiny_model, cache, "fp16+bf16")
    assert not cache.root.exists() or not any(cache.root.iterdir())


# --- the key follows the harness code that builds the variant (issue 15, item 3) ---

CPU = torch.device("cpu")


def _keys(model, recipes):
    from optimize.variant import variant_key

    return {recipe: variant_key(model, parse_recipe(recipe), CPU) for recipe in recipes}


def _edited_source(monkeypatch, tmp_path, relative: str) -> None:
    """Serve a really edited copy of one source file to the fingerprint, leaving the tree alone."""
    from optimize import code_fingerprint

    original = code_fingerprint._PACKAGE_DIR.parent / relative
    edited = tmp_path / "edited.py"
    edited.write_bytes(original.read_bytes() + b"\n# an edit that changes nothing at run time\n")
    real_read = code_fingerprint.read_source
    monkeypatch.setattr(
        code_fingerprint, "read_source", lambda path: real_read(edited if path == original else path)
    )


@pytest.mark.parametrize(
    ("edited", "rebuilt", "kept"),
    [
        ("optimize/passes/int8.py", {"int8"}, {"fp32", "fp16", "bf16", "int8wo"}),
        ("optimize/passes/dtype_cast.py", {"fp32", "fp16", "bf16"}, {"int8", "int8wo"}),
        ("optimize/formats/quantised.py", {"int8", "int8wo"}, {"fp32", "fp16", "bf16"}),
        ("optimize/cache.py", {"fp32", "fp16", "bf16", "int8", "int8wo"}, set()),
    ],
)
def test_editing_a_source_file_changes_only_the_keys_of_variants_built_by_it(
    tiny_model, monkeypatch, tmp_path, edited, rebuilt, kept
):
    before = _keys(tiny_model, rebuilt | kept)
    _edited_source(monkeypatch, tmp_path, edited)
    after = _keys(tiny_model, rebuilt | kept)
    assert {r for r in before if before[r] != after[r]} == rebuilt


def test_manifest_records_the_code_hash_and_its_files(tiny_model, cache):
    from optimize.code_fingerprint import recipe_code_fingerprint

    variant = _build(tiny_model, cache, "fp16")
    code = json.loads((cache.folder(variant.manifest["key"]) / MANIFEST).read_text())["code"]
    assert code["sha256"] == recipe_code_fingerprint(parse_recipe("fp16")).sha256
    assert {"optimize/passes/dtype_cast.py", "optimize/formats/state_dict.py", "optimize/cache.py"} <= set(
        code["files"]
    )
    assert "optimize/passes/int8.py" not in code["files"]


def test_imports_followed_are_the_ones_that_run():
    from optimize.code_fingerprint import imported_modules

    source = b"""
from typing import TYPE_CHECKING
import torch
from optimize.passes import dtype_cast
from optimize.quantisation import QUANTISED_FORMAT
from . import registry
from .base import Pass
if TYPE_CHECKING:
    from optimize.recipe import Recipe
else:
    from optimize import errors

def later():
    import optimize.macs
"""
    assert imported_modules("optimize.passes.example", source) == {
        "optimize.passes.dtype_cast",  # the submodule, not the registry package that imports every pass
        "optimize.quantisation",  # a name defined in the package itself
        "optimize.passes.registry",
        "optimize.passes.base",
        "optimize.errors",
        "optimize.macs",
    }


# --- damaged files are set aside, never blocking (issue 16, item 4) ---

KEY = "ab" * 32


def _quarantined(cache) -> list[str]:
    return sorted(p.name for p in (cache.root / ".quarantine").iterdir())


def test_manifest_that_is_not_an_object_is_quarantined_and_rebuilt(tiny_model, cache):
    variant = _build(tiny_model, cache)
    key = variant.manifest["key"]
    (cache.folder(key) / MANIFEST).write_text("[1, 2]")
    with pytest.warns(UserWarning, match="unreadable manifest.*moved to .*quarantine"):
        assert _build(tiny_model, cache).cache_hit is False
    [aside] = _quarantined(cache)
    assert aside.startswith(key + "-")
    assert (cache.root / ".quarantine" / aside / MANIFEST).read_text() == "[1, 2]"
    assert _build(tiny_model, cache).cache_hit is True


def test_lock_that_is_a_folder_is_set_aside_and_made_afresh(cache):
    cache.lock_path(KEY).mkdir(parents=True)
    warning = pytest.warns(UserWarning, match=r"lock .*\.lock cannot be opened .*moved to .*\.quarantine")
    with warning, cache.lock(KEY):
        assert cache.lock_path(KEY).is_file()
    assert _quarantined(cache)[0].startswith(f".{KEY}.lock-")


def test_lock_that_is_a_link_is_set_aside_and_its_target_left_alone(cache, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("not the cache's")
    cache.root.mkdir(parents=True)
    cache.lock_path(KEY).symlink_to(outside)
    with pytest.warns(UserWarning, match="cannot be opened"), cache.lock(KEY):
        assert not cache.lock_path(KEY).is_symlink()
    assert outside.read_text() == "not the cache's"


# --- a build killed mid-way leaves no entry and no lasting debris (issue 16, item 5) ---

_DIE_MID_BUILD = """
import importlib.util, sys, time
from pathlib import Path
# cache.py alone (stdlib only): the child starts in a fraction of a second.
spec = importlib.util.spec_from_file_location("variant_cache", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["variant_cache"] = module  # dataclasses look their module up here
spec.loader.exec_module(module)
cache = module.VariantCache(Path(sys.argv[2]))

def write(folder):
    (folder / "unet.safetensors").write_bytes(b"half written")
    Path(sys.argv[4]).write_text(str(folder))
    time.sleep(120)  # killed long before this ends

with cache.lock(sys.argv[3]):
    cache.store(sys.argv[3], {}, write)
"""


def _start_build(cache, key: str, ready: Path):
    from optimize import cache as cache_module

    child = subprocess.Popen(
        [sys.executable, "-c", _DIE_MID_BUILD, cache_module.__file__, str(cache.root), key, str(ready)]
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None, "the build process exited before it started writing"
        assert time.monotonic() < deadline, "the build process never started writing"
        time.sleep(0.05)
    return child, Path(ready.read_text())


def test_staging_of_a_killed_build_is_removed_by_the_next_lock_and_never_loaded(cache, tmp_path):
    dead, other = "cd" * 32, "ef" * 32
    child, staging = _start_build(cache, dead, tmp_path / "dead.ready")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert staging.is_dir() and staging.name.startswith(f".{dead[:12]}-")
    assert cache.load(dead) is None  # a staging folder is never an entry
    with cache.lock(other):  # any run's lock, not only the dead key's, sweeps it
        assert not staging.exists()
    assert [p.name for p in cache.root.iterdir() if not p.name.endswith(".lock")] == []


def test_staging_of_a_live_build_is_left_alone(cache, tmp_path):
    live, other = "12" * 32, "34" * 32
    child, staging = _start_build(cache, live, tmp_path / "live.ready")
    try:
        with cache.lock(other):
            assert staging.is_dir(), "a build still holding its lock lost its staging folder"
    finally:
        child.kill()
        child.wait(timeout=30)
    with cache.lock(live):
        assert not staging.exists()


def test_cpu_builds_are_keyed_by_the_cpus_int8_arithmetic_and_kernel_level(monkeypatch):
    """An int8 graph built without VNNI has 7-bit weights: a cache shared with a VNNI machine
    must not hand it over (nor compiled kernels of another ISA)."""
    import torch

    import optimize.variant as variant

    cpu = torch.device("cpu")
    monkeypatch.setattr(variant, "reduce_range_for", lambda device: False)
    full = variant.device_label(cpu)
    monkeypatch.setattr(variant, "reduce_range_for", lambda device: True)
    seven_bit = variant.device_label(cpu)
    assert full != seven_bit and full.endswith("/int8-full") and seven_bit.endswith("/int8-7bit")
    assert str(torch.backends.cpu.get_cpu_capability()) in full
