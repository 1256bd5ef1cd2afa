"""`diffbench study STUDY ...`: the ready-made studies (`python -m bench.studies`)."""

from bench.commands import delegate

SUMMARY = "ready-made studies that run the suite and write a table and a plot (python -m bench.studies)"
main = delegate("bench.studies.cli")
