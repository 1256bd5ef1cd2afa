"""`diffbench recover [--storage DIR]`: interrupted runs into saved runs (`python -m bench.recover`)."""

from bench.commands import delegate

SUMMARY = "turn interrupted runs' journals into saved runs (python -m bench.recover)"
main = delegate("bench.recover")
