"""`python -m bench.profiles [list|calibrate]`: the known profiles and the detected one; or
per-profile efficiencies computed from saved runs measured on real cards."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.profiles.detect import DeviceDescription, describe_cpu, describe_device, no_gpu_driver
from bench.profiles.select import AUTO, catalogue, resolve_profile
from bench.profiles.table import Profile


def _number(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None, or NaN ("supported, rate unknown")
        return "-"
    return f"{value:.{digits}f}"


def _row(profile: Profile) -> list[str]:
    vram = "-" if profile.vram_mib is None else f"{profile.vram_mib / 1024:.1f} GiB"
    return [
        profile.name,
        profile.kind,
        vram,
        _number(profile.bandwidth_gbs, 0),
        _number(profile.fp32_tflops),
        _number(profile.fp16_tflops),
        _number(profile.bf16_tflops) if profile.bf16 else "no",
        _number(profile.int8_tops),
        "yes" if profile.tensor_cores else "no",
        profile.capability_text if profile.compute_capability else "-",
        f"{profile.efficiency:.2f}" if profile.has_rates else "-",
        profile.description,
    ]


HEADER = [
    "profile",
    "kind",
    "memory",
    "GB/s",
    "fp32 TF",
    "fp16 TF",
    "bf16 TF",
    "int8 TOPS",
    "tensor",
    "cc",
    "eff",
    "what",
]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [HEADER, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _host(device_text: str) -> DeviceDescription:
    """The device to detect the profile of. On a machine without a GPU driver `auto` is the CPU,
    found without importing torch (seconds, for a table); otherwise torch resolves the device."""
    text = device_text.strip().lower()
    if text == "cpu" or (text == "auto" and no_gpu_driver()):
        return describe_cpu()
    from bench.devices import resolve_device

    return describe_device(resolve_device(device_text))


def list_profiles(args: argparse.Namespace) -> None:
    host = _host(args.device)
    profiles = catalogue(host, args.file, args.calibration)
    detected = resolve_profile(AUTO, host, profiles)
    print(_table([_row(p) for p in profiles.values()]))
    print()
    print("fp16/bf16 are matrix rates with fp32 accumulation (what PyTorch uses); eff = efficiency factor")
    print("- = not known (bf16 TF: supported, rate unknown); no = not supported")
    for profile in profiles.values():
        for issue in profile.known_issues:
            print(f"known issue, {profile.name}: {issue}")
    print(f"detected: {detected.name} ({host.name})")


def calibrate(args: argparse.Namespace) -> None:
    from bench.profiles.calibration import calibrate_from_runs, calibration_toml

    found = calibrate_from_runs([Path(p) for p in args.runs])
    if not found:
        raise BenchError("no row measured natively on a GPU profile with a projection: nothing to calibrate")
    text = calibration_toml(found)
    if args.output is None:
        print(text, end="")
        return
    output = Path(args.output)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, output)  # atomically
    summary = ", ".join(
        f"{name}: " + ", ".join(f"{key}={entry[key]}" for key in ("efficiency", "launch_us") if key in entry)
        for name, entry in found.items()
    )
    print(f"wrote {output} ({summary})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    listing = sub.add_parser("list", help="list the profiles and show the detected one (the default)")
    for p in (parser, listing):
        p.add_argument("--file", default=None, help="TOML file of extra profiles")
        p.add_argument(
            "--calibration", default=None, help="TOML/JSON file of efficiency factors and launch costs"
        )
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    cal = sub.add_parser(
        "calibrate", help="efficiency and launch cost per profile from runs measured on real cards"
    )
    cal.add_argument("runs", nargs="+", help="saved run JSON files")
    cal.add_argument("--output", default=None, help="write a calibration TOML here (default: print it)")
    args = parser.parse_args(argv)
    try:
        if args.command == "calibrate":
            calibrate(args)
        else:
            list_profiles(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
