"""The suite options a fleet command passes on, read on the driver with the suite's own parsers.

The driver reads them before any task starts: a bad value is one line there, not a failure on
every node, and `fleet run` needs the workloads to plan its shards (bench/fleet/shards.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.options import SUITE_OPTIONS, OptionLookup, add_study_arguments, study_lookup

NAMES = tuple(option.name for option in SUITE_OPTIONS)


def suite_lookup(suite_options: Sequence[str]) -> tuple[OptionLookup, list[str]]:
    """An OptionLookup over the suite options (the suite's defaults for the rest), and the ones
    the suite does not know (pytest's own, for `fleet run`)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_study_arguments(parser, *NAMES)
    args, unknown = parser.parse_known_args(list(suite_options))
    return study_lookup(args, NAMES), unknown


def workload_labels(suite_options: Sequence[str]) -> list[str]:
    """The labels of every workload the options give (one, or a sweep's), in the suite's order;
    BenchError with a one-line message for a bad value."""
    from bench.options import WorkloadOptions

    lookup, _ = suite_lookup(suite_options)  # fleet run refuses a --workload-shard of the user's
    return [w.label for w in WorkloadOptions.parse(lookup, str(lookup("--model"))).workloads]
