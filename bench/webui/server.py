"""A small local server speaking the AUTOMATIC1111 API, backed by the harness's own pipeline.

It is the stand-in for a real web UI (tests, a fresh clone without one): `POST
/sdapi/v1/txt2img`, `GET /sdapi/v1/options` (`sd_model_checkpoint`) and `GET
/sdapi/v1/sd-models`. Like a real web UI it generates one request at a time (a lock around
the pipeline) while accepting connections on many threads, so concurrency shows up as
queueing, not as parallel work. A bad payload is a 422 with FastAPI's `detail` shape.
"""

from __future__ import annotations

import base64
import io
import json
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.generate import generate
from bench.schedulers import set_scheduler
from bench.webui.client import OPTIONS, SD_MODELS, TXT2IMG
from bench.workload import Workload
from models import LoadedModel

MAX_BODY_BYTES = 1 << 20
MAX_SIDE = 2048
MAX_STEPS = 150
MAX_BATCH = 8
# A1111 sampler names this server can run -> the suite's scheduler names (bench/schedulers.py).
SAMPLERS = {"Euler": "euler", "DDIM": "ddim", "DPM++ 2M": "dpm++2m", "PLMS": "pndm", "PNDM": "pndm"}
DEFAULTS: dict[str, Any] = {
    "prompt": "",
    "negative_prompt": "",
    "steps": 20,
    "cfg_scale": 7.0,
    "width": 512,
    "height": 512,
    "seed": -1,
    "batch_size": 1,
    "sampler_name": "Euler",
}


class PayloadError(ValueError):
    """A txt2img payload field that cannot be run; `field` names it for the 422 body."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Request:
    prompt: str
    negative_prompt: str
    steps: int
    cfg_scale: float
    width: int
    height: int
    seed: int
    batch_size: int
    sampler_name: str


def parse_payload(payload: Any) -> Request:
    """The payload with A1111's defaults filled in; `PayloadError` naming the bad field."""
    if not isinstance(payload, dict):
        raise PayloadError("body", f"the body is a JSON {type(payload).__name__}, not an object")
    values = {**DEFAULTS, **{key: payload[key] for key in DEFAULTS if key in payload}}
    for name in ("prompt", "negative_prompt", "sampler_name"):
        if not isinstance(values[name], str):
            raise PayloadError(name, f"{name} {values[name]!r} is not a string")
    ranges = {
        "steps": (1, MAX_STEPS),
        "width": (8, MAX_SIDE),
        "height": (8, MAX_SIDE),
        "batch_size": (1, MAX_BATCH),
        "seed": (-1, 2**32 - 1),
    }
    for name, (low, high) in ranges.items():
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PayloadError(name, f"{name} {value!r} is not a whole number from {low} to {high}")
    for name in ("width", "height"):
        if values[name] % 8:
            raise PayloadError(name, f"{name} {values[name]} is not a multiple of 8")
    scale = values["cfg_scale"]
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 <= scale <= 30:
        raise PayloadError("cfg_scale", f"cfg_scale {scale!r} is not a number from 0 to 30")
    if values["sampler_name"] not in SAMPLERS:
        raise PayloadError(
            "sampler_name",
            f"sampler_name {values['sampler_name']!r} is unknown; accepted: {', '.join(SAMPLERS)}",
        )
    values["cfg_scale"] = float(scale)
    return Request(**values)


class Generator:
    """The loaded pipeline behind a lock: one generation at a time, like a real web UI."""

    def __init__(self, model: LoadedModel, device: torch.device | None = None) -> None:
        self.model = model
        self.device = device or torch.device("cpu")
        self.pipeline = model.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self._lock = threading.Lock()

    @property
    def checkpoint(self) -> str:
        return self.model.name

    def txt2img(self, request: Request) -> tuple[list[bytes], dict[str, Any]]:
        """PNG bytes of each image and A1111's `info` fields."""
        seed = random.randrange(2**32) if request.seed == -1 else request.seed
        workload = Workload(
            width=request.width,
            height=request.height,
            steps=request.steps,
            guidance=request.cfg_scale,
            batch=request.batch_size,
            scheduler=SAMPLERS[request.sampler_name],
            prompt=request.prompt,
            seed=seed,
        )
        with self._lock:
            set_scheduler(self.pipeline, workload.scheduler)
            images = self._generate(workload, request.negative_prompt)
        info = {
            "prompt": request.prompt,
            "all_prompts": [request.prompt] * request.batch_size,
            "negative_prompt": request.negative_prompt,
            "seed": seed,
            "all_seeds": [seed] * request.batch_size,
            "width": request.width,
            "height": request.height,
            "sampler_name": request.sampler_name,
            "cfg_scale": request.cfg_scale,
            "steps": request.steps,
            "batch_size": request.batch_size,
            "sd_model_name": self.checkpoint,
            "device": str(self.device),
            "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
        }
        return [_png(image) for image in images], info

    def _generate(self, workload: Workload, negative_prompt: str) -> np.ndarray:
        # The suite's seeded generation (a CPU generator, the same latents on every device), plus
        # the negative prompt the suite has no use for: text-to-image families take it, others ignore it.
        return generate(self.pipeline, workload, self.device, negative_prompt=negative_prompt)


def _png(image: np.ndarray) -> bytes:
    pixels = np.nan_to_num(image, nan=0.0).clip(0, 1)
    pixels = (pixels * 255).round().astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class Handler(BaseHTTPRequestHandler):
    """The three endpoints; `server.generator` is the shared `Generator`."""

    server: WebUIServer

    def do_GET(self) -> None:
        generator = self.server.generator
        if self.path == OPTIONS:
            self._send(HTTPStatus.OK, {"sd_model_checkpoint": generator.checkpoint})
        elif self.path == SD_MODELS:
            model = generator.model
            entry = {"title": model.name, "model_name": model.name, "hash": model.fingerprint[:10]}
            self._send(HTTPStatus.OK, [{**entry, "sha256": model.fingerprint, "filename": model.weights}])
        else:
            self._send(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})

    def do_POST(self) -> None:
        if self.path != TXT2IMG:
            self._send(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})
            return
        try:
            request = parse_payload(self._body())
        except PayloadError as error:
            detail = [{"loc": ["body", error.field], "msg": str(error), "type": "value_error"}]
            self._send(HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": detail})
            return
        except _BodyError as error:
            self._send(error.status, {"detail": str(error)})
            return
        try:
            with self.server.counting():
                images, info = self.server.generator.txt2img(request)
        except Exception as error:  # the pipeline failed: a 500 that says why, the server lives on
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": f"{type(error).__name__}: {error}"})
            return
        parameters = {field: getattr(request, field) for field in DEFAULTS}
        body = {
            "images": [base64.b64encode(image).decode("ascii") for image in images],
            "parameters": parameters,
            "info": json.dumps(info),
        }
        self._send(HTTPStatus.OK, body)

    def _body(self) -> Any:
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            raise _BodyError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise _BodyError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes; at most {MAX_BODY_BYTES}"
            )
        try:
            return json.loads(self.rfile.read(length))
        except ValueError as error:
            raise PayloadError("body", f"the body is not JSON ({' '.join(str(error).split())})") from None

    def _send(self, status: HTTPStatus, document: Any) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class _BodyError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class WebUIServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer holding the one `Generator` its handler threads share."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], generator: Generator, verbose: bool = False) -> None:
        super().__init__(address, Handler)
        self.generator = generator
        self.verbose = verbose
        # txt2img requests being served (generating or queued for the lock), and the most at once:
        # what a load test really achieved, whatever concurrency it asked for.
        self.in_flight = 0
        self.peak_in_flight = 0
        self._count_lock = threading.Lock()

    @contextmanager
    def counting(self) -> Iterator[None]:
        with self._count_lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line instead of socketserver's traceback; a client that left (timed out) is no error."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) and not self.verbose:
            return
        print(f"webui server: {type(error).__name__} serving {client_address}: {error}", file=sys.stderr)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_in_thread(generator: Generator, host: str = "127.0.0.1", port: int = 0) -> WebUIServer:
    """Serve in a daemon thread (port 0: a free one); stop with `server.shutdown(); server.server_close()`."""
    server = WebUIServer((host, port), generator)
    threading.Thread(target=server.serve_forever, name="webui-server", daemon=True).start()
    return server
