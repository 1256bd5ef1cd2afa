"""`diffbench fleet`: the suite across a Ray cluster whose nodes advertise their profile (bench/fleet)."""

from bench.commands import delegate

SUMMARY = "the suite on a Ray cluster, one run per profile; nodes advertise theirs (fleet node|status|run)"
main = delegate("bench.fleet.cli")
