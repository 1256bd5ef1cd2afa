"""Issue 18's sd15 measurement in one command, for the machine this runs on: `diffbench tune` from
empty caches, then the same search again, with what the write-up needs kept beside the answer.

    python tools/tune_measure.py --output docs/results/DATE-tune-runs/KIND [--work /tmp/tm] \
        [--budget 45m] [tune options]
    (default tune options: --model sd15 --weights random --resolution 256 --steps 4 --min-psnr 35)

It writes into --output:
- machine.txt: `lscpu`, and the CPU kind the issue names (AMX, AVX-512 without AMX, AVX2 only);
- load.log: the 1-minute load average from /proc/loadavg every 30 s, with the time;
- answer-first.txt, answer-second.txt: each search's output (its stage lines and the answer);
- time-first.txt, time-second.txt: `/usr/bin/time -v` of each search (peak RSS), when it exists;
- tune.json, runs/ (the suite runs of the search) and the `diffbench report tune` table and plot;
- summary.json: wall time of each search, exit statuses, peak RSS, the winner line, the CPU kind.

The caches (variant cache, TorchInductor's) live under --work, which must be empty or absent: a
first run from warm caches would not be the measurement. An sd15 search may need ~90 GB of
variant cache (the search says so when it starts); the caches are left in --work for a rerun,
delete them after. Run it alone: another job on the cores changes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TUNE = [
    "--model",
    "sd15",
    "--weights",
    "random",
    "--resolution",
    "256",
    "--steps",
    "4",
    "--min-psnr",
    "35",
]
LOAD_EVERY_S = 30.0


def cpu_kind(flags: set[str]) -> str:
    """The CPU kinds issue 18 names, from /proc/cpuinfo or lscpu flags."""
    if {"amx_tile", "amx_bf16"} & flags:
        return "amx"
    if "avx512f" in flags:
        return "avx512-bf16" if "avx512_bf16" in flags else "avx512"
    return "avx2-only" if "avx2" in flags else "no-avx2"


def cpu_flags(lscpu: str) -> set[str]:
    match = re.search(r"^Flags:\s*(.*)$", lscpu, flags=re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def peak_rss_mib(time_output: str) -> float | None:
    """`Maximum resident set size (kbytes): N` of `/usr/bin/time -v`, in MiB."""
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_output)
    return int(match.group(1)) / 1024 if match else None


def winner_line(answer: str) -> str | None:
    """The answer's paste-ready line (`--variants fp32,...   # ...`), as the search printed it."""
    lines = [line.strip() for line in answer.splitlines() if line.strip().startswith("--variants ")]
    return lines[-1] if lines else None


def conclusion(answer: str) -> str | None:
    """The search's last say before `finished after`: the best so far, or why nothing won."""
    lines = [line.strip() for line in answer.splitlines() if line.startswith("[tune] ")]
    said = [line for line in lines if not line.startswith("[tune] finished after")]
    return said[-1] if said else None


class LoadSampler:
    """A thread writing `HH:MM:SS <the /proc/loadavg line>` to `path` every LOAD_EVERY_S."""

    def __init__(self, path: Path) -> None:
        self._path, self._stop = path, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        line = Path("/proc/loadavg").read_text().strip()
        with self._path.open("a") as handle:
            handle.write(f"{datetime.now(UTC):%H:%M:%S} {line}\n")

    def _loop(self) -> None:
        self._sample()
        while not self._stop.wait(LOAD_EVERY_S):
            self._sample()


def search(command: list[str], output: Path, which: str, env: dict[str, str]) -> dict[str, object]:
    """One search: its output to answer-WHICH.txt, its /usr/bin/time -v to time-WHICH.txt."""
    timer = shutil.which("time")  # GNU time, for -v; without it the search runs untimed by it
    time_file = output / f"time-{which}.txt"
    full = [timer, "-v", "-o", str(time_file), *command] if timer else command
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    with (output / f"answer-{which}.txt").open("w") as answer:
        returncode = subprocess.run(
            full, cwd=REPO, env=env, stdout=answer, stderr=subprocess.STDOUT
        ).returncode
    seconds = time.perf_counter() - started
    text = (output / f"answer-{which}.txt").read_text(errors="replace")
    print(f"{which}: exit {returncode} after {seconds / 60:.1f} min", flush=True)
    return {
        "started": started_at.isoformat(timespec="seconds"),
        "wall_min": round(seconds / 60, 2),
        "exit_status": returncode,
        "peak_rss_mib": peak_rss_mib(time_file.read_text()) if time_file.exists() else None,
        "winner_line": winner_line(text),
        "conclusion": conclusion(text),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="the folder the artefacts go to")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tune-measure"), help="caches and the answer")
    parser.add_argument("--budget", default="45m", help="the search's --budget (default 45m)")
    args, tune_options = parser.parse_known_args()
    if args.work.exists() and any(args.work.iterdir()):
        print(f"error: --work {str(args.work)!r} is not empty; give an empty or new folder", file=sys.stderr)
        return 2
    if args.output.exists() and any(args.output.iterdir()):
        print(
            f"error: --output {str(args.output)!r} is not empty; give an empty or new folder", file=sys.stderr
        )
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    kind = cpu_kind(cpu_flags(lscpu))
    (args.output / "machine.txt").write_text(f"cpu kind: {kind}\n\n{lscpu}")
    answer = args.work / "tune"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCHINDUCTOR_CACHE_DIR": str(args.work / "inductor")}
    command = [sys.executable, "-m", "bench", "tune", *(tune_options or DEFAULT_TUNE)]
    command += ["--budget", args.budget, "--output", str(answer), "--cache-dir", str(args.work / "cache")]
    print(f"cpu kind: {kind}; {' '.join(command[2:])}", flush=True)
    with LoadSampler(args.output / "load.log"):
        searches = {which: search(command, args.output, which, env) for which in ("first", "second")}
    if (answer / "tune.json").exists():
        shutil.copy2(answer / "tune.json", args.output / "tune.json")
        shutil.copytree(answer / "runs", args.output / "runs", dirs_exist_ok=True)
        report = [
            sys.executable,
            "-m",
            "reports",
            "tune",
            str(answer / "tune.json"),
            "--output",
            str(args.output),
        ]
        subprocess.run(report, cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=False)
    summary = {"cpu_kind": kind, "command": command[2:], "searches": searches}
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0 if all(s["exit_status"] == 0 for s in searches.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
