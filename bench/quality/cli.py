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
        check_dims(args.dims)
        first, second = reference_images(args.first), reference_images(args.second)
        extractor = InceptionFeatures(args.dims, args.inception, allow_pickle=args.allow_pickle)
        started = time.perf_counter()
        features = [
            extractor(images, f"features {name}")
            for images, name in ((first, args.first), (second, args.second))
        ]
        seconds = time.perf_counter() - started
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    a, b = (stats_from_features(f, extractor.extractor_id) for f in features)
    fid = frechet_distance(a.mean, a.cov, b.mean, b.cov)
    kid, kid_std = kernel_inception_distance(features[0], features[1])
    images = a.count + b.count
    spread = "(no spread: see the note)" if kid_std is None else f"+- {kid_std:.5f}"
    print(f"fid {fid:.3f}  kid {kid:.5f} {spread}  dims {args.dims}  n {a.count} vs {b.count}")
    print(f"features: {seconds:.1f} s for {images} images = {seconds / images * 1e3:.1f} ms/image")
    notes = {rank_warning(a.count, args.dims), rank_warning(b.count, args.dims)}
    notes.add(kid_std_note(a.count, b.count))
    for note in notes - {None}:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
