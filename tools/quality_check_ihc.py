"""FID/KID of tiny-ddpm-ihc (trained and random weights) and the real-data floor, against ihc-heldout.

    OMP_NUM_THREADS=1 python tools/quality_check_ihc.py --dims 64 --samples 217

The same figures the suite gives with `--quality fid` (same sampling, seeds, features and
distance code), for the two weights choices side by side, plus the floor (ihc-train crops
vs ihc-heldout crops) and the cost of the features per image on this machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.instruments.fid import compare, sample_images
from bench.quality.inception import InceptionFeatures, check_dims
from bench.quality.reference import reference_images
from bench.quality.stats import stats_from_features
from bench.schedulers import set_scheduler
from bench.workload import Workload
from models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(prog="python tools/quality_check_ihc.py")
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--samples", type=int, default=217)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    extractor = InceptionFeatures(check_dims(args.dims))
    reference = reference_images("ihc-heldout")
    wall, cpu = time.perf_counter(), time.process_time()
    held = stats_from_features(extractor(reference, ""), extractor.extractor_id)
    count = len(reference)
    print(f"| features | {(time.perf_counter() - wall) / count * 1e3:.1f} ms/image wall, "
          f"{(time.process_time() - cpu) / count * 1e3:.1f} ms/image CPU |")  # fmt: skip
    floor = compare(extractor(reference_images("ihc-train"), ""), held, "ihc-heldout")
    print(f"| real ihc-train crops (floor) | {floor.count} | {floor.fid:.3f} | {floor.kid:.5f} |")
    workload = Workload(width=32, height=32, steps=args.steps, scheduler="ddim", seed=0)
    for label, weights in (("tiny-ddpm-ihc, trained", None), ("tiny-ddpm-ihc, random weights", "random")):
        pipeline = load_model("tiny-ddpm-ihc", weights).pipeline
        set_scheduler(pipeline, "ddim")
        images = sample_images(pipeline, workload, torch.device("cpu"), args.samples, "")
        score = compare(extractor(images, ""), held, "ihc-heldout")
        print(f"| {label} | {score.count} | {score.fid:.3f} | {score.kid:.5f} |")


if __name__ == "__main__":
    main()
