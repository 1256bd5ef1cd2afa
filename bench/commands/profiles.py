"""`diffbench profiles [list|calibrate] ...`: the hardware profiles (`python -m bench.profiles`)."""

from bench.commands import delegate

SUMMARY = "the hardware profiles and the detected one; calibrate them from runs (python -m bench.profiles)"
main = delegate("bench.profiles.__main__")
