"""The CPU's flags as /proc/cpuinfo spells them, and which of them run half precision natively.

Kept free of torch (optimize/cpu_features.py, which decides with them, imports it): `diffbench
profiles` lists the profile table from these without loading torch.
"""

from __future__ import annotations

from functools import cache

# x86 flags first, then aarch64's /proc/cpuinfo "Features" names for the same arithmetic.
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
FP16_FLAGS = ("avx512_fp16", "amx_fp16", "asimdhp")


@cache
def host_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """Every flag of the first CPU in /proc/cpuinfo (x86 `flags`, aarch64 `Features`); empty
    where it cannot be read (not Linux), which the decisions treat as unknown."""
    try:
        with open(cpuinfo) as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()
