"""An AUTOMATIC1111-compatible `/sdapi/v1/txt2img` client, standard library only.

A web UI is timed as a black box: whatever it runs, the figure is what a client sees over
HTTP. Every way a call can fail (connection refused, timeout, an HTTP error status, a body
that is not JSON, images that do not decode or have the wrong size) becomes a `Reply` with
`ok=False` and a one-line `reason`, never an exception, so a load test of a dead server is a
row that says why.

A timeout bounds the whole request, from connecting to the last byte of the reply, not each
socket read: a server that trickles a byte a second would otherwise hold a request for as long
as it likes. A timer shuts the socket down at the deadline, which ends whatever read or write
is waiting on it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.client
import json
import math
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.errors import BenchError
from bench.webui import png
from reports.record import DEFAULT_PROMPT

TXT2IMG = "/sdapi/v1/txt2img"
OPTIONS = "/sdapi/v1/options"
SD_MODELS = "/sdapi/v1/sd-models"
DEFAULT_TIMEOUT_S = 120.0
_REASON_CHARS = 200  # a reason quotes the server, cut so it stays one readable line


@dataclass(frozen=True)
class Txt2Img:
    """The A1111 payload fields the study sends (names as the API spells them)."""

    prompt: str = DEFAULT_PROMPT
    negative_prompt: str = ""
    steps: int = 4
    cfg_scale: float = 7.5
    width: int = 64
    height: int = 64
    seed: int = 0
    batch_size: int = 1
    sampler_name: str = "Euler"

    def payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reply:
    """One call's outcome: `ok` with the decoded images, or the one-line reason it failed."""

    ok: bool
    latency_s: float
    reason: str = ""
    status: int | None = None  # the HTTP status, when one came back
    images: list[png.Png] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """Where the web UI listens: scheme, host, port and path prefix of a base URL."""

    scheme: str
    host: str
    port: int
    prefix: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=timeout)


def parse_url(url: str) -> Endpoint:
    """`http://127.0.0.1:7860` (optionally with a path prefix); `BenchError` naming the bad URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise BenchError(f"--url {url!r} is not a URL ({error}); give e.g. http://127.0.0.1:7860") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BenchError(f"--url {url!r} is not an http(s) URL with a host; give e.g. http://127.0.0.1:7860")
    if parts.query or parts.fragment:
        raise BenchError(f"--url {url!r} has a query or fragment; give the web UI's base URL only")
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, parts.hostname, port or default_port, parts.path.rstrip("/"))


def check_timeout(timeout: float, option: str = "--timeout") -> float:
    """`timeout` when it is a number of seconds above 0; `BenchError` naming it otherwise.

    NaN would never expire (every comparison with it is false) and infinity cannot arm a timer.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise BenchError(f"{option} {timeout!r} is not a number of seconds; give e.g. 120")
    if not math.isfinite(timeout) or timeout <= 0:
        raise BenchError(f"{option} {timeout!r} must be a finite number of seconds above 0, e.g. 120")
    return float(timeout)


def txt2img(endpoint: Endpoint, request: Txt2Img, timeout: float = DEFAULT_TIMEOUT_S) -> Reply:
    """One `POST /sdapi/v1/txt2img`; latency is request sent to images decoded.

    `timeout` bounds the whole exchange (see the module's note); `BenchError` when it is not a
    finite number of seconds above 0.
    """
    check_timeout(timeout)
    body = json.dumps(request.payload()).encode()
    start = time.perf_counter()
    status, data, failure = _exchange(endpoint, "POST", TXT2IMG, body, timeout)
    if failure:
        return Reply(False, time.perf_counter() - start, failure, status)
    document, failure = _json_object(status, data)
    if failure:
        return Reply(False, time.perf_counter() - start, failure, status)
    images, failure = _images(document, request)
    latency = time.perf_counter() - start
    if failure:
        return Reply(False, latency, failure, status)
    return Reply(True, latency, "", status, images, _info(document))


def get_json(endpoint: Endpoint, path: str, timeout: float = 10.0) -> tuple[Any, str]:
    """`GET path` as parsed JSON and "" , or None and the one-line reason it failed."""
    check_timeout(timeout)
    _, data, failure = _exchange(endpoint, "GET", path, None, timeout)
    if failure:
        return None, failure
    try:
        return json.loads(data), ""
    except ValueError as error:
        return None, f"bad JSON from GET {path}: {_one_line(error)}"


def model_name(endpoint: Endpoint, timeout: float = 10.0) -> tuple[str | None, str]:
    """The checkpoint the web UI has loaded (`/sdapi/v1/options` `sd_model_checkpoint`), or why not."""
    options, failure = get_json(endpoint, OPTIONS, timeout)
    if failure:
        return None, failure
    name = options.get("sd_model_checkpoint") if isinstance(options, dict) else None
    if not isinstance(name, str) or not name:
        return None, f"GET {OPTIONS} has no sd_model_checkpoint"
    return name, ""


def _exchange(
    endpoint: Endpoint, method: str, path: str, body: bytes | None, timeout: float
) -> tuple[int | None, bytes, str]:
    """(status, body, "") for a 200, or (status or None, b"", reason) for anything else.

    At most `timeout` seconds from the first connect to the last byte read.
    """
    connection = endpoint.connection(timeout)  # also the connect's own limit
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            # Wakes a read or write blocked on it (they see the connection end); close() would not.
            # An OSError: it is already closed, the request is over anyway.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    timed_out = f"timed out after {timeout:g} s waiting for {method} {path} (the whole request)"
    try:
        connection.connect()
        if expired.is_set():  # the deadline passed while connecting, before the timer could see the socket
            return None, b"", timed_out
        connection.request(method, endpoint.prefix + path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as error:
        # After the deadline, whatever the shut socket raised (a reset, a short read) is the timeout.
        if expired.is_set() or isinstance(error, TimeoutError):  # socket.timeout is TimeoutError
            return None, b"", timed_out
        return None, b"", _failure(endpoint, error)
    finally:
        timer.cancel()
        connection.close()
    if response.status != 200:
        return response.status, b"", f"HTTP {response.status} from {method} {path}: {_error_detail(data)}"
    return response.status, data, ""


def _failure(endpoint: Endpoint, error: OSError | http.client.HTTPException) -> str:
    """The one-line reason of a failed exchange that did not time out."""
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused at {endpoint.url} (is the web UI running?)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve host {endpoint.host!r} ({error.strerror or error})"
    if isinstance(error, http.client.HTTPException):
        # BadStatusLine, RemoteDisconnected, IncompleteRead...: the other side does not speak HTTP.
        return f"bad HTTP response from {endpoint.url}: {type(error).__name__} {_cut(repr(error))}"
    return f"connection error at {endpoint.url}: {error.strerror or _one_line(error)}"


def _json_object(status: int | None, data: bytes) -> tuple[dict[str, Any], str]:
    try:
        document = json.loads(data)
    except ValueError as error:
        return {}, f"bad JSON from POST {TXT2IMG}: {_one_line(error)} (body starts {_cut(repr(data[:40]))})"
    if not isinstance(document, dict):
        return {}, f"bad JSON from POST {TXT2IMG}: a {type(document).__name__}, not an object"
    return document, ""


def _images(document: dict[str, Any], request: Txt2Img) -> tuple[list[png.Png], str]:
    """Every returned image decoded and checked against the asked size and batch."""
    encoded = document.get("images")
    if not isinstance(encoded, list) or not encoded:
        return [], 'bad reply: no "images" list'
    # A1111 appends extra images (grids, masks) after the batch for some requests; the batch comes first.
    if len(encoded) < request.batch_size:
        return [], f"bad reply: {len(encoded)} image(s) for batch_size {request.batch_size}"
    images = []
    for index, text in enumerate(encoded[: request.batch_size]):
        if not isinstance(text, str):
            return [], f"bad image {index}: a {type(text).__name__}, not base64 text"
        # Some servers send a data URL ("data:image/png;base64,..."): take what follows the comma.
        text = text.split(",", 1)[1] if text.startswith("data:") else text
        try:
            image = png.decode(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as error:
            return [], f"bad image {index}: {_one_line(error)}"
        if (image.width, image.height) != (request.width, request.height):
            return (
                [],
                f"bad image {index}: {image.width}x{image.height}, asked {request.width}x{request.height}",
            )
        images.append(image)
    return images, ""


def _info(document: dict[str, Any]) -> dict[str, Any]:
    """A1111's `info` is a JSON *string*; parsed when it is one, empty otherwise."""
    info = document.get("info")
    if isinstance(info, str):
        try:
            parsed = json.loads(info)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return info if isinstance(info, dict) else {}


def _error_detail(data: bytes) -> str:
    """The message of an error body: FastAPI's `detail` (text or a list of `msg`), else its start."""
    try:
        detail = json.loads(data).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        detail = "; ".join(
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail
        )
    if isinstance(detail, str) and detail:
        return _cut(detail)
    return _cut(data.decode("utf-8", "replace")) or "(empty body)"


def _one_line(error: BaseException) -> str:
    return _cut(" ".join(str(error).split()))


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."
