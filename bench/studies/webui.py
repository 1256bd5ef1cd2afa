"""`python -m bench.studies webui`: time an AUTOMATIC1111-compatible web UI as a black box.

    python -m bench.studies webui --url http://127.0.0.1:7860 [--requests 8] [--concurrency 1,2,4]
        [--steps 4 --width 64 --height 64 --prompt ... --seed 0] [--output-dir DIR]
    python -m bench.studies webui --serve tiny-sd ...   # starts the local stand-in server first

For each concurrency level N: one warm-up request, then R `POST /sdapi/v1/txt2img` with at
most N in flight; per-request latency, throughput (images/s over the wall time), errors, and
NVML device memory when the server is on this machine. The levels are saved as one run
(DIR/runs/NNNN_webui.json, the suite's run format) and `python -m reports webui` turns it into
DIR/webui.md and DIR/webui.png. A server that is down gives rows with status `error` and the
reason, and the study still exits 0; bad options exit 2 with one line.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from bench.cli_parser import parse_float
from bench.errors import BenchError
from bench.studies.runner import ROOT, StudyError, run_report
from reports.record import DEFAULT_PROMPT

DEFAULT_OUTPUT = Path("webui-study")
SERVE_START_TIMEOUT_S = 300.0
_SERVING = re.compile(r"serving .* at (http://[^\s()]+)")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "webui",
        help="latency, throughput and errors of an A1111-compatible web UI under N concurrent requests",
        description="Time POST /sdapi/v1/txt2img of an AUTOMATIC1111-compatible server at several "
        "concurrency levels; write runs/*.json, webui.md and webui.png.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="the web UI's base URL, e.g. http://127.0.0.1:7860")
    where.add_argument(
        "--serve",
        metavar="MODEL",
        help="start the local stand-in server with this model (e.g. tiny-sd) on a free port for the study",
    )
    parser.add_argument(
        "--serve-device",
        default="cpu",
        help="torch device of the --serve server: cpu, cuda, cuda:N (default cpu)",
    )
    parser.add_argument(
        "--serve-threads", default=None, help="torch threads of the --serve server (default: torch's own)"
    )
    parser.add_argument("--requests", default="8", help="timed requests per concurrency level (default 8)")
    parser.add_argument("--concurrency", default="1,2,4", help="comma-separated levels (default 1,2,4)")
    parser.add_argument("--steps", default="4", help="steps in the payload (default 4)")
    parser.add_argument("--width", default="64", help="image width (default 64)")
    parser.add_argument("--height", default="64", help="image height (default 64)")
    parser.add_argument("--cfg-scale", default="7.5", help="cfg_scale (default 7.5)")
    parser.add_argument("--batch-size", default="1", help="images per request (default 1)")
    parser.add_argument("--sampler", default="Euler", help="sampler_name (default Euler)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="the prompt")
    parser.add_argument("--negative-prompt", default="", help="the negative prompt (default none)")
    parser.add_argument("--seed", default="0", help="seed (default 0; -1 lets the server pick)")
    parser.add_argument(
        "--timeout",
        default="120",
        help="seconds one request may take, from connecting to the last byte of the reply (default 120)",
    )
    parser.add_argument("--name", default="webui", help="run name: DIR/runs/NNNN_NAME.json (default webui)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"folder for the results (default {DEFAULT_OUTPUT})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.webui.client import Txt2Img, check_timeout, model_name, parse_url
    from bench.webui.load import run_load
    from bench.webui.runs import benchmark_entry, run_document, save_run

    request = Txt2Img(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        steps=_positive(args.steps, "--steps"),
        cfg_scale=_number(args.cfg_scale, "--cfg-scale"),
        width=_positive(args.width, "--width"),
        height=_positive(args.height, "--height"),
        seed=_integer(args.seed, "--seed"),
        batch_size=_positive(args.batch_size, "--batch-size"),
        sampler_name=args.sampler,
    )
    requests = _positive(args.requests, "--requests")
    levels = _levels(args.concurrency)
    timeout = _number(args.timeout, "--timeout", example="120")
    try:
        check_timeout(timeout)  # NaN would never expire, inf cannot arm the request's timer
    except BenchError as error:
        raise StudyError(str(error)) from None
    if not re.fullmatch(r"[A-Za-z0-9._-]+", args.name):
        raise StudyError(f"--name {args.name!r}: use letters, digits, '.', '_' or '-'")
    if args.url is not None:
        try:
            parse_url(args.url)
        except BenchError as error:
            raise StudyError(str(error)) from None
    args.output_dir.mkdir(parents=True, exist_ok=True)

    serve_threads = None if args.serve_threads is None else _positive(args.serve_threads, "--serve-threads")
    with _server(args.serve, args.serve_device, serve_threads) if args.serve else _given(args.url) as url:
        endpoint = parse_url(url)
        model, why = model_name(endpoint, min(timeout, 10.0))
        if model is None:
            print(f"[study] no model name from the web UI: {why}", file=sys.stderr)
        entries = []
        for level in levels:
            print(
                f"[study] {endpoint.url}: {requests} requests at concurrency {level}",
                file=sys.stderr,
                flush=True,
            )
            result = run_load(endpoint, request, requests, level, timeout)
            if result.reason:
                print(f"[study] concurrency {level}: {result.reason}", file=sys.stderr)
            entries.append(benchmark_entry(result, request, endpoint, model))
    saved = save_run(run_document(entries), args.output_dir / "runs", args.name)
    print(f"[study] saved {saved}", file=sys.stderr)
    return run_report(["webui", str(saved), "--output-dir", str(args.output_dir)])


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


@contextmanager
def _server(model: str, device: str, threads: int | None) -> Iterator[str]:
    """`python -m bench.webui.serve --model MODEL --port 0` for the duration; yields its URL."""
    command = [
        sys.executable,
        "-m",
        "bench.webui.serve",
        "--model",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--device",
        device,
        *(["--threads", str(threads)] if threads is not None else []),
    ]
    print(f"[study] starting the local web UI: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            url = _wait_for_url(process, errors)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_url(process: subprocess.Popen[str], errors: IO[str]) -> str:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for text in stdout:
            lines.put(text)
        lines.put("")  # end of output: the server exited

    threading.Thread(target=read, name="webui-serve-stdout", daemon=True).start()
    try:
        line = lines.get(timeout=SERVE_START_TIMEOUT_S)
    except queue.Empty:
        raise StudyError(f"the local web UI did not start within {SERVE_START_TIMEOUT_S:g} s") from None
    match = _SERVING.search(line)
    if match:
        print(f"[study] local web UI {line.strip()}", file=sys.stderr, flush=True)
        return match.group(1)
    process.wait(timeout=30)
    errors.seek(0)
    tail = [text for text in errors.read().splitlines() if text.strip()][-1:]
    raise StudyError(f"the local web UI did not start: {tail[0] if tail else line.strip() or 'no output'}")


def _integer(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise StudyError(f"{option} {text!r} is not a whole number") from None


def _positive(text: str, option: str) -> int:
    value = _integer(text, option)
    if value < 1:
        raise StudyError(f"{option} {value} must be at least 1")
    return value


def _number(text: str, option: str, example: str = "1.0") -> float:
    try:
        return parse_float(option, text, example=example)  # NaN and infinities mean nothing here
    except BenchError as error:
        raise StudyError(str(error)) from None


def _levels(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise StudyError(f"--concurrency {text!r} names no level; give e.g. 1,2,4")
    levels = [_positive(part, "--concurrency") for part in parts]
    if len(set(levels)) != len(levels):
        raise StudyError(f"--concurrency {text!r} repeats a level")
    return levels
