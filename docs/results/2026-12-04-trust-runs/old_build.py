"""Peak RSS of one variant build with the source model resident, for code without a build meter.

Run from a checkout of the code to measure (e.g. a worktree of 8e3885e):
    HF_HUB_OFFLINE=1 python old_build.py ort-int8
"""

import re
import sys
import tempfile
import time
from pathlib import Path

import torch

from models import load_model
from optimize import VariantCache, build_variant, parse_recipe


def status_mib(field: str) -> float:
    with open("/proc/self/status") as handle:
        return int(re.search(rf"{field}:\s+(\d+)", handle.read()).group(1)) / 1024


print("interpreter MiB", round(status_mib("VmRSS")), flush=True)
model = load_model("sd15")
modules = [m for m in model.pipeline.components.values() if isinstance(m, torch.nn.Module)]
weights = sum(t.numel() * t.element_size() for m in modules for t in [*m.parameters(), *m.buffers()]) / 2**20
print("fp32 weights MiB", round(weights), "rss after load", round(status_mib("VmRSS")), flush=True)
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # VmHWM := current RSS
started = time.time()
cache = VariantCache(Path(tempfile.mkdtemp(dir="/tmp")))
build_variant(model, parse_recipe(sys.argv[1]), torch.device("cpu"), cache)
peak = status_mib("VmHWM")
print(f"build peak MiB {peak:.0f} ratio {peak / weights:.2f} build_s {time.time() - started:.0f}", flush=True)
