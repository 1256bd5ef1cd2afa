"""The build-time parity checks of exported variants, read from the variant cache's manifests.

    python tools/export_checks.py [CACHE_DIR] [--model tiny-sd]

One markdown row per cached onnx/ort/ort-int8/trt variant: the recipe, the worst relative and
absolute error of each exported component against torch on inputs recorded from a real
generation (`checks.<pass>.parity`, the last runtime pass's figures), and the providers the
sessions got. These are the figures the build checked (a float32 export off by more than 1e-2
relative fails it); the suite's rows do not carry them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

RUNTIME_CHECKS = ("trt", "ort-int8", "ort", "onnx")  # the last pass of a recipe wins


def parity_of(checks: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for name in RUNTIME_CHECKS:
        if isinstance(checks.get(name), dict) and "parity" in checks[name]:
            return name, checks[name]["parity"]
    return None


def rows(cache: Path, model: str | None) -> list[str]:
    lines = []
    for manifest_path in sorted(cache.glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        if model and manifest.get("model") != model:
            continue
        found = parity_of(manifest.get("checks", {}))
        if found is None:
            continue
        source, parity = found
        cells = ", ".join(
            f"{component} {check['max_rel']:.2g} rel / {check['max_abs']:.2g} abs"
            for component, check in sorted(parity.items())
        )
        providers = sorted(set(manifest["checks"].get("providers", {}).values()))
        lines.append(
            f"| {manifest.get('model')} | `{manifest['recipe']}` | {source} | {cells} | "
            f"{', '.join(providers)} | {manifest.get('build_s', float('nan')):.1f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/export_checks.py", description=__doc__)
    default = os.environ.get("DIFFBENCH_CACHE", str(Path.home() / ".cache" / "diffbench" / "variants"))
    parser.add_argument("cache", nargs="?", type=Path, default=Path(default))
    parser.add_argument("--model", default=None)
    args = parser.parse_args(argv)
    if not args.cache.is_dir():
        print(f"error: no variant cache at {args.cache}", file=sys.stderr)
        return 2
    found = rows(args.cache, args.model)
    if not found:
        print(f"error: no exported variants in {args.cache}", file=sys.stderr)
        return 2
    print("| model | recipe | checked by | max error vs torch per component | providers | build s |")
    print("| --- | --- | --- | --- | --- | ---: |")
    print("\n".join(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
