import json

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
    with pytest.warns(UserWarning, match="corrupt"):
        rebuilt = _build(tiny_model, cache)
    assert rebuilt.cache_hit is False
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
