"""`python -m bench.quality A B [--dims D]`: FID and KID between two image sets.

A and B are folders of images or built-in sets (ihc-heldout, ihc-train). Prints the FID,
the KID, and what the Inception features cost per image on this machine. Exit 2 with one
line on bad input.
"""

from __future__ import annotations

import sys
import time

from bench.cli_parser import OneLineParser
from bench.errors import BenchError
from bench.quality.distance import frechet_distance, kernel_inception_distance, kid_std_note, rank_warning
from bench.quality.inception import DIMS, InceptionFeatures, check_dims
from bench.quality.reference import reference_images
from bench.quality.stats import stats_from_features


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    parser.add_argument("first", help="a folder of images, or ihc-heldout / ihc-train")
    parser.add_argument("second", help="a folder of images, or ihc-heldout / ihc-train")
    parser.add_argument("--dims", type=int, default=2048, help=f"feature size: {', '.join(map(str, DIMS))}")
    parser.add_argument("--inception", default=None, help="TorchScript FID Inception file")
    parser.add_argument("--allow-pickle", action="store_true", help="allow an unpinned Inception file")
    args = parser.parse_args(argv)
    try:
        _compare(args.first, args.second, args.dims, args.inception, args.allow_pickle)
    except BenchError as error:
        # Every BenchError names its bad input (a folder, a file, --dims): one line, no traceback.
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _compare(first_set: str, second_set: str, dims: int, inception: str | None, allow_pickle: bool) -> None:
    check_dims(dims, "--dims")
    first, second = reference_images(first_set), reference_images(second_set)
    extractor = InceptionFeatures(dims, inception, allow_pickle=allow_pickle)
    started = time.perf_counter()
    features = [
        extractor(images, f"features {name}") for images, name in ((first, first_set), (second, second_set))
    ]
    seconds = time.perf_counter() - started
    a, b = (stats_from_features(f, extractor.extractor_id) for f in features)
    fid = frechet_distance(a.mean, a.cov, b.mean, b.cov)
    kid, kid_std = kernel_inception_distance(features[0], features[1])
    images = a.count + b.count
    spread = "(no spread: see the note)" if kid_std is None else f"+- {kid_std:.5f}"
    print(f"fid {fid:.3f}  kid {kid:.5f} {spread}  dims {dims}  n {a.count} vs {b.count}")
    print(f"features: {seconds:.1f} s for {images} images = {seconds / images * 1e3:.1f} ms/image")
    # This command's feature-size option is --dims, and its sets are whole folders (no sample count).
    notes = {rank_warning(a.count, dims, "--dims", ""), rank_warning(b.count, dims, "--dims", "")}
    notes.add(kid_std_note(a.count, b.count))
    for note in notes - {None}:
        print(f"note: {note}")


if __name__ == "__main__":
    sys.exit(main())
