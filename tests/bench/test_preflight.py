"""Everything a run needs is checked before any work (issue 16, items 1-3).

Each case makes its own hostile file or value. Most go straight through `config_from_options`
(what `pytest_configure` calls); one `pytest bench/` subprocess per kind shows what the user
sees: exit 2, one line naming the file, no traceback, and the storage's earlier saved run and
the cache's entry untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers.suite_inline import run_bench_inline
from safetensors import safe_open
from safetensors.torch import save_file

from bench.cli_parser import parse_float, parse_int
from bench.errors import BenchError
from bench.options import option_defaults as _suite_defaults
from bench.suite_config import config_from_options
from models import ModelError
from models.fingerprint import contained_files, files_fingerprint
from optimize import VariantCache
from tests.bench.test_suite_e2e import suite_options

FIXTURE_RUN = Path(__file__).parents[1] / "fixtures" / "reports" / "0001_first.json"
OPTION_ERRORS = (BenchError, ModelError)


def config(tmp_path: Path, **options: object):
    """config_from_options over the suite's defaults, with a private cache."""
    values = _suite_defaults()
    values.update({"--device": "cpu", "--variants": "fp32", "--cache-dir": str(tmp_path / "cache")})
    values.update({f"--{name.replace('_', '-')}": value for name, value in options.items()})
    return config_from_options(values.__getitem__)


def refused(tmp_path: Path, **options: object) -> str:
    with pytest.raises(OPTION_ERRORS) as caught:
        config(tmp_path, **options)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# -- safetensors files ------------------------------------------------------------------------


def write_lora(path: Path, name: str = "unet.a.lora.down.weight") -> Path:
    save_file({name: torch.ones(2, 3), "unet.a.lora.up.weight": torch.ones(3, 2)}, str(path))
    return path


def with_header(path: Path, header: object, data: bytes = b"", length: int | None = None) -> Path:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def raw(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def entry(dtype: str = "F32", shape: object = (2,), offsets: object = (0, 8)) -> dict[str, object]:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


HOSTILE_SAFETENSORS = {
    "random bytes": lambda p: raw(p, os.urandom(4096)),
    "empty": lambda p: raw(p, b""),
    "shorter than the length": lambda p: raw(p, b"\x01\x02\x03"),
    "oversized header claim": lambda p: with_header(p, {}, length=200_000_000),
    "header past the end": lambda p: with_header(p, {"a.lora": entry()}, length=10_000),
    "header not JSON": lambda p: with_header(p, b"lora lora lora"),
    "header not UTF-8": lambda p: with_header(p, b"\xff\xfe{}"),
    "header a JSON list": lambda p: with_header(p, ["a.lora"]),
    "unknown dtype": lambda p: with_header(p, {"a.lora": entry(dtype="F31")}, b"\0" * 8),
    "negative shape": lambda p: with_header(p, {"a.lora": entry(shape=(-2,))}, b"\0" * 8),
    "offsets disagree with shape": lambda p: with_header(p, {"a.lora": entry(offsets=(0, 4))}, b"\0" * 4),
    "gap between tensors": lambda p: with_header(
        p, {"a.lora": entry(), "b.lora": entry(offsets=(16, 24))}, b"\0" * 24
    ),
    "truncated data": lambda p: with_header(p, {"a.lora": entry()}, b"\0" * 5),
    "trailing garbage": lambda p: with_header(p, {"a.lora": entry()}, b"\0" * 9),
    "metadata not strings": lambda p: with_header(
        p, {"__metadata__": {"a": 1}, "a.lora": entry()}, b"\0" * 8
    ),
    "entry without data_offsets": lambda p: with_header(
        p, {"a.lora": {"dtype": "F32", "shape": [2]}}, b"\0" * 8
    ),
}


@pytest.mark.parametrize("kind", list(HOSTILE_SAFETENSORS))
def test_a_damaged_or_foreign_lora_is_one_line_naming_it(tmp_path, kind):
    path = HOSTILE_SAFETENSORS[kind](tmp_path / "style.safetensors")
    message = refused(tmp_path, lora=[str(path)])
    assert str(path) in message
    # Not a false alarm: safetensors itself refuses the same file.
    with pytest.raises(Exception), safe_open(str(path), framework="pt") as handle:  # noqa: B017
        for key in handle.keys():  # noqa: SIM118 - safe_open is not a dict
            handle.get_tensor(key)


def test_a_sound_lora_passes_and_the_library_reads_it(tmp_path):
    path = write_lora(tmp_path / "style.safetensors")
    assert config(tmp_path, lora=[str(path)]).lora == ((str(path), 1.0),)
    # The hand-made sound file of the checks above is sound for the library too.
    sound = with_header(
        tmp_path / "b.safetensors", {"a.lora": entry(), "b.lora": entry(offsets=(8, 16))}, b"\0" * 16
    )
    with safe_open(str(sound), framework="pt") as handle:
        assert sorted(handle.keys()) == ["a.lora", "b.lora"]
    assert config(tmp_path, lora=[str(sound)]).lora == ((str(sound), 1.0),)


def test_a_null_metadata_is_valid_as_for_the_library(tmp_path):
    path = with_header(tmp_path / "m.safetensors", {"__metadata__": None, "a.lora": entry()}, b"\0" * 8)
    with safe_open(str(path), framework="pt") as handle:
        assert list(handle.keys()) == ["a.lora"]
    assert config(tmp_path, lora=[str(path)]).lora == ((str(path), 1.0),)


def test_a_safetensors_file_that_is_not_a_lora_is_refused(tmp_path):
    path = tmp_path / "unet.safetensors"
    save_file({"conv_in.weight": torch.ones(2, 2)}, str(path))
    assert "holds no LoRA weights" in refused(tmp_path, lora=[str(path)])


def test_a_textual_inversion_of_two_tensors_is_refused(tmp_path):
    path = tmp_path / "two.safetensors"
    save_file({"<a>": torch.ones(1, 32), "<b>": torch.ones(1, 32)}, str(path))
    message = refused(tmp_path, textual_inversion=[str(path)])
    assert str(path) in message and "holds 2 tensors" in message


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".ckpt", ".pkl"])
def test_pickle_files_are_refused_unless_allowed(tmp_path, suffix):
    path = tmp_path / f"style{suffix}"
    torch.save({"a.lora.down.weight": torch.ones(2)}, path)
    for option in ("lora", "textual_inversion"):
        message = refused(tmp_path, **{option: [str(path)]})
        assert str(path) in message and "--allow-pickle" in message
    assert config(tmp_path, lora=[str(path)], allow_pickle=True).lora == ((str(path), 1.0),)


def test_a_folder_pipe_or_symlink_loop_given_as_a_file_is_one_line(tmp_path):
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    assert f"{folder} is not a file" in refused(tmp_path, lora=[str(folder)])
    pipe = tmp_path / "pipe.txt"
    os.mkfifo(pipe)  # reading it would block the run forever
    assert "not a regular file" in refused(tmp_path, prompts_file=str(pipe))
    loop = tmp_path / "loop.toml"
    loop.symlink_to(tmp_path / "loop2.toml")
    (tmp_path / "loop2.toml").symlink_to(loop)
    for option in ("prompts_file", "profile_file", "calibration"):
        message = refused(tmp_path, **{option: str(loop)})
        assert str(loop) in message and ("symlink loop" in message or "does not exist" in message)


def test_an_oversized_text_file_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "prompts.txt"
    with big.open("wb") as handle:
        handle.truncate(64 << 20)  # sparse: costs no disk
    message = refused(tmp_path, prompts_file=str(big))
    assert str(big) in message and "more than" in message


def test_a_unet_checkpoint_shard_linking_out_is_refused(tmp_path):
    folder = tmp_path / "step-100" / "unet"
    folder.mkdir(parents=True)
    outside = write_lora(tmp_path / "elsewhere.safetensors")
    (folder / "diffusion_pytorch_model.safetensors").symlink_to(outside)
    message = refused(tmp_path, unet_checkpoint=str(tmp_path / "step-100"))
    assert "points outside" in message
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    HOSTILE_SAFETENSORS["random bytes"](folder / "diffusion_pytorch_model.safetensors")
    assert "not a safetensors file" in refused(tmp_path, unet_checkpoint=str(folder))


# -- model folders ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    from models import load_model

    folder = tmp_path_factory.mktemp("model") / "tiny"
    load_model("tiny-sd").pipeline.save_pretrained(folder)
    return folder


@pytest.fixture
def own_folder(model_folder, tmp_path) -> Path:
    copy = tmp_path / "tiny"
    shutil.copytree(model_folder, copy, symlinks=True)
    return copy


def test_a_sound_model_folder_passes(own_folder, tmp_path):
    assert config(tmp_path, model=str(own_folder)).model == str(own_folder)


def test_a_model_folder_whose_weights_link_outside_is_refused(own_folder, tmp_path):
    weights = own_folder / "unet" / "diffusion_pytorch_model.safetensors"
    outside = tmp_path / "outside.safetensors"
    weights.rename(outside)
    weights.symlink_to(outside)
    message = refused(tmp_path, model=str(own_folder))
    assert str(weights) in message and "points outside the model folder" in message


def test_a_symlink_loop_in_a_model_folder_is_refused(own_folder, tmp_path):
    (own_folder / "unet" / "a.safetensors").symlink_to(own_folder / "unet" / "b.safetensors")
    (own_folder / "unet" / "b.safetensors").symlink_to(own_folder / "unet" / "a.safetensors")
    assert "symlink loop" in refused(tmp_path, model=str(own_folder))


def test_a_truncated_weight_file_in_a_model_folder_is_refused(own_folder, tmp_path):
    weights = own_folder / "vae" / "diffusion_pytorch_model.safetensors"
    with weights.open("r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    message = refused(tmp_path, model=str(own_folder))
    assert str(weights) in message and "truncated" in message


def test_a_pickle_only_component_is_refused_unless_allowed(own_folder, tmp_path):
    unet = own_folder / "unet"
    (unet / "diffusion_pytorch_model.safetensors").unlink()
    torch.save({"w": torch.ones(1)}, unet / "diffusion_pytorch_model.bin")
    message = refused(tmp_path, model=str(own_folder))
    assert "diffusion_pytorch_model.bin" in message and "--allow-pickle" in message
    config(tmp_path, model=str(own_folder), allow_pickle=True)


def test_weights_that_are_not_a_model_folder_or_a_file_are_refused(own_folder, tmp_path):
    (own_folder / "model_index.json").unlink()
    assert "has no model_index.json" in refused(tmp_path, model="sd15", weights=str(own_folder))
    loose = with_header(tmp_path / "sd15.safetensors", {}, length=3)
    assert "not a safetensors file" in refused(tmp_path, model="sd15", weights=str(loose))
    pickled = tmp_path / "sd15.ckpt"
    pickled.write_bytes(b"\x80\x04K\x01.")
    assert "--allow-pickle" in refused(tmp_path, model="sd15", weights=str(pickled))


@pytest.fixture
def alarm() -> Iterator[None]:
    """A read that blocks (the FIFO below) fails the test instead of hanging it."""

    def expire(*_: object) -> None:
        raise TimeoutError("blocked reading a file outside the model folder")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_nothing_outside_a_model_folder_is_read_not_even_to_hash_it(own_folder, tmp_path, alarm):
    from models import load_model

    outside = tmp_path / "outside"
    os.mkfifo(outside)  # opening it for reading blocks: any read or hash of it would hang
    (own_folder / "text_encoder" / "extra.safetensors").symlink_to(outside)
    for call in (
        lambda: files_fingerprint(own_folder),
        lambda: contained_files(own_folder),
        lambda: load_model("sd15", weights=str(own_folder)),  # fingerprints before it loads
        lambda: load_model(str(own_folder)),
    ):
        with pytest.raises(ModelError, match="points outside the model folder"):
            call()


# -- folders the run writes -------------------------------------------------------------------


def test_a_cache_dir_that_is_a_file_or_under_one_is_refused(tmp_path):
    file = tmp_path / "cachefile"
    file.write_text("")
    assert "is a file, not a folder" in refused(tmp_path, cache_dir=str(file))
    message = refused(tmp_path, cache_dir=str(file / "variants"))
    assert "cannot be created" in message and str(file) in message
    loop = tmp_path / "cacheloop"
    loop.symlink_to(loop)
    assert str(loop) in refused(tmp_path, cache_dir=str(loop / "variants"))
    assert not (tmp_path / "cache").exists()  # nothing created by a refused run


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_cache_dir_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    assert "not writable" in refused(tmp_path, cache_dir=str(folder / "variants"))


# -- values that mean nothing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"warmup": "abc"}, "--warmup 'abc' is not a whole number"),
        ({"warmup": "-1"}, "--warmup -1 is out of range"),
        ({"seed": "x"}, "--seed 'x' is not a whole number"),
        ({"seed": "-1"}, "--seed -1 is out of range"),
        ({"seed": str(2**64)}, f"--seed {2**64} is out of range"),
        ({"seeds": f"0,{2**64}"}, f"--seed {2**64} is out of range"),
        ({"steps": "1.5"}, "--steps '1.5' is not a whole number"),
        ({"steps": "1_000"}, "--steps '1_000' is not a whole number"),
        ({"batch": "nan"}, "--batch 'nan' is not a whole number"),
        ({"rounds": "inf"}, "--rounds 'inf' is not a whole number"),
        ({"rounds": "0"}, "--rounds 0 is out of range"),
        ({"guidance": "nan"}, "--guidance 'nan' is not a finite number"),
        ({"guidance": "inf"}, "--guidance 'inf' is not a finite number"),
        ({"guidance": "-inf"}, "--guidance '-inf' is not a finite number"),
        ({"sweep": ["guidance=1,nan"]}, "--guidance 'nan' is not a finite number"),
        ({"sweep": ["steps=2,abc"]}, "--steps 'abc' is not a whole number"),
        ({"timeout": "nan"}, "--timeout 'nan' is not a finite number"),
        ({"timeout": "inf"}, "--timeout 'inf' is not a finite number"),
        ({"timeout": "-5"}, "--timeout -5 must be a positive number"),
        ({"variants": ""}, "--variants '' is empty"),
        ({"variants": "  "}, "--variants '  ' is empty"),
        ({"lora": ["x.safetensors:nan"]}, "the scale must be a finite number"),
    ],
)
def test_values_that_mean_nothing_are_refused(tmp_path, options, named):
    assert named in refused(tmp_path, **options)


def test_the_shared_number_parsers():
    assert parse_int("--n", " 12 ", minimum=1) == 12
    assert parse_int("--n", 3, minimum=0) == 3
    assert parse_float("--x", "0.5", minimum=0) == 0.5
    for bad in ("", "1e3", "٣", "9" * 41, True):
        with pytest.raises(BenchError, match="--n"):
            parse_int("--n", bad)
    for bad in ("nan", "-inf", "1e999", "x", None):
        with pytest.raises(BenchError, match="--x"):
            parse_float("--x", bad)


def test_timeout_zero_still_means_no_limit(tmp_path):
    assert config(tmp_path, timeout="0").timeout_s is None
    assert config(tmp_path, timeout="2.5").timeout_s == 2.5


# -- what the user sees: `pytest bench/` itself --------------------------------------------------


def _earlier_work(tmp_path: Path) -> tuple[Path, str]:
    """A saved run in the storage and a verified entry in the cache, as an earlier run left them."""
    saved = tmp_path / "storage" / "Linux-CPython-3.11-64bit" / "0001_first.json"
    saved.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURE_RUN, saved)
    key = "0" * 64
    VariantCache(tmp_path / "cache").store(key, {}, lambda folder: (folder / "w.bin").write_bytes(b"w"))
    return saved, key


def _untouched(tmp_path: Path, saved: Path, key: str) -> None:
    assert saved.read_bytes() == FIXTURE_RUN.read_bytes()
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # nothing saved, no journal
    assert VariantCache(tmp_path / "cache").load(key) is not None  # still there, still verifies


def _hostile_lora(tmp_path: Path) -> tuple[list[str], str]:
    path = HOSTILE_SAFETENSORS["random bytes"](tmp_path / "style.safetensors")
    return [f"--lora={path}"], str(path)


def _linked_model(tmp_path: Path, folder: Path) -> tuple[list[str], str]:
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    outside = tmp_path / "outside.safetensors"
    weights.rename(outside)
    weights.symlink_to(outside)
    return [f"--model={folder}"], str(weights)


def _cache_file(tmp_path: Path) -> tuple[list[str], str]:
    file = tmp_path / "cachefile"
    file.write_text("")
    return [f"--cache-dir={file}"], str(file)


def _storage_file(tmp_path: Path) -> tuple[list[str], str]:
    file = tmp_path / "storagefile"
    file.write_text("")
    return [f"--benchmark-storage={file}"], str(file)


@pytest.mark.parametrize(
    "make",
    [
        _hostile_lora,
        _cache_file,
        _storage_file,
        lambda tmp_path: (["--warmup=abc"], "--warmup 'abc'"),  # was an INTERNALERROR, exit 3
        lambda tmp_path: (["--seed=x"], "--seed 'x'"),  # was pytest's usage error, exit 4
        None,  # the model folder linking outside (needs the folder fixture)
    ],
    ids=[
        "random-bytes-lora",
        "cache-dir-a-file",
        "storage-a-file",
        "warmup-abc",
        "seed-x",
        "model-links-out",
    ],
)
def test_the_suite_refuses_before_any_work_with_one_line(tmp_path, make, own_folder):
    saved, key = _earlier_work(tmp_path)
    options, named = make(tmp_path) if make is not None else _linked_model(tmp_path, own_folder)
    # In this process (helpers.suite_inline): the run stops at its option, before any import of
    # its own; test_suite_e2e.py's bad options include one run as a subprocess.
    result = run_bench_inline(
        *suite_options(tmp_path),
        "--benchmark-save=hostile",
        "--variants=fp32",
        *options,
        env={"DIFFBENCH_CACHE": str(tmp_path / "cache")},
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 2, output
    assert len(output.splitlines()) == 1, output
    assert "Traceback" not in output and named in output
    _untouched(tmp_path, saved, key)
