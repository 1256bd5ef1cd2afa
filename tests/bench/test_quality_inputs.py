"""Bad FID inputs: a reference folder with too few images, option names, and minimums that are real."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bench.errors import BenchError
from bench.quality.cli import main as quality_main
from bench.quality.distance import rank_warning
from bench.quality.folder import check_image_count, read_image_folder
from bench.quality.options import quality_options


def _folder(root: Path, images: int, broken: int = 0) -> Path:
    root.mkdir()
    for index in range(images):
        Image.new("RGB", (8, 8), (index, 0, 0)).save(root / f"{index}.png")
    for index in range(broken):
        (root / f"broken{index}.png").write_bytes(b"not a png")
    return root


def _options(**given: str):
    values = {"--quality": "fid", "--fid-samples": "100", "--fid-dims": "64"}
    values.update({f"--{key.replace('_', '-')}": value for key, value in given.items()})
    return values.get


# -- a reference folder with one image -------------------------------------------------------
def test_the_quality_command_names_a_one_image_folder_in_one_line(tmp_path, capsys):
    one = _folder(tmp_path / "one", 1)
    assert quality_main([str(one), "ihc-heldout", "--dims", "64"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {str(one)!r} has 1 readable image; FID and KID need at least 2\n"


def test_the_suite_refuses_a_one_image_reference_at_start_up(tmp_path):
    one = _folder(tmp_path / "one", 1)
    with pytest.raises(BenchError) as error:
        quality_options(_options(fid_reference=str(one)), "tiny-ddpm-ihc")
    assert (
        str(error.value) == f"--fid-reference {str(one)!r} has 1 readable image; FID and KID need at least 2"
    )


def test_the_start_up_count_reads_headers_and_says_what_it_found(tmp_path):
    half = _folder(tmp_path / "half", 1, broken=2)
    with pytest.raises(BenchError, match=r"has 1 readable image and 2 file\(s\) that could not be read"):
        check_image_count(half)
    with pytest.raises(BenchError, match=r"has no readable images \(none found\)"):
        check_image_count(_folder(tmp_path / "empty", 0))
    check_image_count(_folder(tmp_path / "two", 2))  # enough: no error
    # The full read agrees with the start-up count on the same folder.
    with pytest.raises(BenchError, match="has 1 readable image and 2 file"):
        read_image_folder(half)


def test_a_two_image_reference_passes_start_up(tmp_path):
    two = _folder(tmp_path / "two", 2)
    assert quality_options(_options(fid_reference=str(two)), "tiny-ddpm-ihc")["fid_reference"] == str(two)


# -- option names and minimums ---------------------------------------------------------------
def test_the_quality_command_names_its_own_dims_option(tmp_path, capsys):
    assert quality_main(["ihc-train", "ihc-heldout", "--dims", "100"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --dims 100 is not available; accepted: 64, 192, 768, 2048\n"


@pytest.mark.parametrize("samples", ["0", "1", "-3"])
def test_fid_samples_states_the_real_minimum_at_once(samples):
    with pytest.raises(BenchError) as error:
        quality_options(_options(fid_samples=samples), "tiny-ddpm-ihc")
    assert str(error.value) == f"--fid-samples {samples} must be at least 2: FID needs a covariance"


def test_the_rank_warning_gives_one_suggestion_per_remedy_in_the_commands_own_terms():
    suite = rank_warning(20, 64)
    assert suite is not None and suite.endswith("; use --fid-samples 65 or more")
    assert "more samples" not in suite
    assert rank_warning(100, 2048).endswith("; use --fid-dims 64 or --fid-samples 2049 or more")
    # python -m bench.quality: --dims, and whole folders instead of a sample count.
    assert rank_warning(20, 64, "--dims", "").endswith("; use at least 65 images")
    command = rank_warning(100, 2048, "--dims", "")
    assert command.endswith("; use --dims 64 or at least 2049 images") and "--fid-" not in command
