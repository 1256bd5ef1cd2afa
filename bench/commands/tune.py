"""`diffbench tune`: the fastest recipe for a hardware profile within a quality bound (bench/tune)."""

from bench.commands import delegate

SUMMARY = "find the fastest recipe for a profile within a quality bound (--min-psnr / --max-fid-increase)"
main = delegate("bench.tune.cli")
