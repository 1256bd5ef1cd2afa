"""`python -m bench.webui.serve --model tiny-sd --port 7860 [--host 127.0.0.1]`: a local A1111-style server.

Serves `POST /sdapi/v1/txt2img`, `GET /sdapi/v1/options` and `GET /sdapi/v1/sd-models` from
the harness's own pipeline on the CPU (or `--device cuda`) until interrupted. It binds to
127.0.0.1 unless told otherwise: it runs arbitrary prompts for anyone who can reach it.
Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.cli_parser import EXIT_BAD_INPUT, OneLineParser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m bench.webui.serve",
        description="A small AUTOMATIC1111-compatible server backed by a diffbench model (a stand-in).",
    )
    parser.add_argument(
        "--model", default="tiny-sd", help="registry name or local diffusers folder (default tiny-sd)"
    )
    parser.add_argument("--weights", default=None, help="'random' or a local path (default: the model's own)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N (default cpu)")
    parser.add_argument(
        "--allow-pickle", action="store_true", help="allow pickle-based weights (they can run code)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's own); 1 avoids oversubscribing a busy CPU",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port} is not a port number from 0 to 65535")
    if args.threads is not None and args.threads < 1:
        return _fail(f"--threads {args.threads} must be at least 1")
    # Heavy imports after the options are checked, so `--help` and typos answer at once.
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    from bench.webui.server import Generator, WebUIServer
    from models import ModelError, load_model

    try:
        device = torch.device(args.device)
    except RuntimeError:
        return _fail(f"--device {args.device!r} is not a torch device; accepted: cpu, cuda, cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        return _fail(f"--device {args.device!r}: no CUDA GPU here; use --device cpu")
    try:
        model = load_model(args.model, args.weights, allow_pickle=args.allow_pickle)
    except ModelError as error:
        return _fail(str(error))
    try:
        server = WebUIServer((args.host, args.port), Generator(model, device), verbose=args.verbose)
    except OSError as error:
        return _fail(f"cannot listen on {args.host}:{args.port} ({error.strerror or error})")
    # The line a script waits for (the study's --serve reads the URL from it).
    print(f"serving {model.name} at {server.url} ({device}, {torch.get_num_threads()} threads)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
