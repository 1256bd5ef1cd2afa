"""The web UI backend: the A1111 client, the load runner, the local server, rows and the report.

A real local server (tiny-sd, 64x64, 2 steps, on 127.0.0.1) answers most tests; small
hand-written servers stand in for the broken ones (garbage bytes, non-JSON, a hang).
"""

from __future__ import annotations

import base64
import io
import json
import socket
import statistics
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from PIL import Image

import reports
from bench.errors import BenchError
from bench.studies import cli as studies_cli
from bench.webui import png, serve
from bench.webui.client import Endpoint, Txt2Img, get_json, model_name, parse_url, txt2img
from bench.webui.load import run_load
from bench.webui.runs import benchmark_entry, run_document, save_run
from bench.webui.server import Generator, WebUIServer, start_in_thread
from bench.webui.vram import DeviceMemorySampler, is_local
from models import load_model
from reports import cli as reports_cli

SMALL = Txt2Img(prompt="a red square", steps=2, width=64, height=64, seed=0)
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def local_webui() -> Iterator[WebUIServer]:
    # One intra-op thread: a toy model gains nothing from more, and on a busy CPU more threads
    # spin against each other (many times slower); restored for the tests that follow.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    running = start_in_thread(Generator(load_model("tiny-sd")), "127.0.0.1", 0)
    yield running
    running.shutdown()
    running.server_close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def server(local_webui: WebUIServer) -> Endpoint:
    return parse_url(local_webui.url)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Canned(BaseHTTPRequestHandler):
    """Answers every POST with the class's `status` and `body`."""

    status = 200
    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[type[_Canned]]:
    """A server whose reply the test sets (a fresh handler class per test)."""
    handler = type("Handler", (_Canned,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    httpd.shutdown()
    httpd.server_close()


@contextmanager
def loopback(handle: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A TCP server on 127.0.0.1 calling `handle(connection, stop)` for each connection, in its own
    thread; yields its URL; on exit `stop` is set and the server is gone."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(connection, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.fixture
def raw_socket_server() -> Iterator[tuple[str, list[bytes]]]:
    """A TCP server that sends whatever bytes are in the list (nothing: it never answers)."""
    replies: list[bytes] = []

    def answer(connection: socket.socket, stop: threading.Event) -> None:
        with connection:
            connection.recv(65536)
            if replies:
                connection.sendall(replies[0])
            else:
                stop.wait(5)  # hang: the client must time out first

    with loopback(answer) as url:
        yield url, replies


def _png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the client against the local server -----------------------------------------------------


def test_txt2img_returns_a_decodable_image_of_the_asked_size(server: Endpoint) -> None:
    reply = txt2img(server, SMALL, TIMEOUT)
    assert reply.ok, reply.reason
    assert reply.status == 200
    assert [(image.width, image.height) for image in reply.images] == [(64, 64)]
    assert reply.info["seed"] == 0 and reply.info["steps"] == 2
    assert reply.latency_s > 0


def test_payload_size_and_batch_reach_the_server(server: Endpoint) -> None:
    request = Txt2Img(prompt="x", steps=2, width=48, height=32, seed=3, batch_size=2)
    reply = txt2img(server, request, TIMEOUT)
    assert reply.ok, reply.reason
    assert [(image.width, image.height) for image in reply.images] == [(48, 32), (48, 32)]


def test_same_seed_same_image_other_seed_other_image(server: Endpoint) -> None:
    first, again = txt2img(server, SMALL, TIMEOUT), txt2img(server, SMALL, TIMEOUT)
    other = txt2img(server, Txt2Img(prompt=SMALL.prompt, steps=2, seed=1), TIMEOUT)
    assert first.ok and again.ok and other.ok
    assert first.images[0].raw == again.images[0].raw
    assert first.images[0].raw != other.images[0].raw


def test_options_and_sd_models_name_the_model(server: Endpoint) -> None:
    assert model_name(server) == ("tiny-sd", "")
    models, failure = get_json(server, "/sdapi/v1/sd-models")
    assert failure == "" and models[0]["model_name"] == "tiny-sd"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"steps": 0}, "steps"), ({"width": 60}, "width"), ({"sampler_name": "Nope"}, "sampler_name")],
)
def test_bad_payload_is_422_naming_the_field(server: Endpoint, change: dict, field: str) -> None:
    request = Txt2Img(**{**SMALL.payload(), **change})
    reply = txt2img(server, request, TIMEOUT)
    assert not reply.ok
    assert reply.status == 422
    assert reply.reason.startswith("HTTP 422") and field in reply.reason


def test_non_object_body_is_422(server: Endpoint) -> None:
    connection = server.connection(TIMEOUT)
    connection.request(
        "POST", "/sdapi/v1/txt2img", body=b"[1, 2]", headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    detail = json.loads(response.read())["detail"]
    connection.close()
    assert response.status == 422 and "not an object" in detail[0]["msg"]


# --- the load runner ------------------------------------------------------------------------


def test_concurrency_two_completes_every_request_without_errors(
    server: Endpoint, local_webui: WebUIServer
) -> None:
    local_webui.peak_in_flight = 0
    result = run_load(server, SMALL, requests=4, concurrency=2, timeout=TIMEOUT, progress=False)
    assert local_webui.peak_in_flight == 2  # two requests really were in the server at once
    assert result.warmup is not None and result.warmup.ok
    assert len(result.replies) == 4 and result.errors == 0 and result.reason == ""
    assert len(result.latencies) == 4 and result.images == 4
    # The wall clock spans every timed request (started before the first was sent).
    assert result.wall_s is not None and result.wall_s >= max(result.latencies)
    assert result.throughput_ips == pytest.approx(4 / result.wall_s)


def test_closed_port_gives_an_error_row_not_an_exception(tmp_path: Path) -> None:
    endpoint = parse_url(f"http://127.0.0.1:{closed_port()}")
    result = run_load(endpoint, SMALL, requests=3, concurrency=2, timeout=5, progress=False)
    entry = benchmark_entry(result, SMALL, endpoint, None)
    info = entry["extra_info"]
    assert "stats" not in entry
    assert info["status"] == "error" and "connection refused" in info["reason"]
    assert info["errors"] is None and info["completed"] == 0 and info["throughput_ips"] is None
    document = run_document([entry])
    assert document["benchmarks"] == [] and document["diffbench"]["rows"] == [entry]
    frame = reports.load(save_run(document, tmp_path, "down"))
    assert list(frame["status"]) == ["error"] and frame["latency_median_s"].isna().all()


def test_garbage_bytes_give_a_bad_http_response(raw_socket_server: tuple[str, list[bytes]]) -> None:
    url, replies = raw_socket_server
    replies.append(b"hello, I am not a web server\r\n\r\n")
    result = run_load(parse_url(url), SMALL, requests=2, concurrency=1, timeout=5, progress=False)
    assert result.warmup is not None and not result.warmup.ok
    assert result.reason.startswith("warm-up request failed: bad HTTP response")


def test_a_hanging_server_times_out(raw_socket_server: tuple[str, list[bytes]]) -> None:
    url, _ = raw_socket_server
    reply = txt2img(parse_url(url), SMALL, timeout=0.5)
    assert not reply.ok and reply.reason.startswith("timed out after 0.5 s")


TRICKLE_FOR_S = 20.0  # how long the trickling server keeps a connection going, at most


@pytest.fixture
def trickling_server() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server that answers every request with the bytes in the list, one byte a second
    (each read a socket makes returns well within any per-read timeout), for TRICKLE_FOR_S at most."""
    reply: list[bytes] = []

    def trickle(connection: socket.socket, stop: threading.Event) -> None:
        with connection:
            connection.recv(65536)
            for byte in reply[0][: int(TRICKLE_FOR_S)]:
                if stop.wait(1.0):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client hung up: what a deadline does

    with loopback(trickle) as url:
        yield url, reply


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 10, id="in-the-headers"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + b" " * 4096, id="in-the-body"),
    ],
)
def test_the_timeout_bounds_the_whole_request_not_each_read(
    trickling_server: tuple[str, list[bytes]], where: bytes
) -> None:
    url, reply = trickling_server
    reply.append(where)
    start = time.monotonic()
    result = run_load(parse_url(url), SMALL, requests=1, concurrency=1, timeout=1.5, progress=False)
    elapsed = time.monotonic() - start
    # Slack for a loaded 2-core machine waking the timer late; a per-read timeout held it 20 s.
    assert elapsed < 1.5 + 5.0, f"a request held {elapsed:.1f} s against --timeout 1.5"
    assert result.warmup is not None and not result.warmup.ok
    assert (
        result.warmup.reason == "timed out after 1.5 s waiting for POST /sdapi/v1/txt2img (the whole request)"
    )
    entry = benchmark_entry(result, SMALL, parse_url(url), None)  # the row the study saves
    assert entry["extra_info"]["status"] == "error"
    assert entry["extra_info"]["reason"].startswith("warm-up request failed: timed out after 1.5 s")


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0.0, -1.0])
def test_a_timeout_that_means_nothing_is_refused_before_any_request(
    raw_socket_server: tuple[str, list[bytes]], timeout: float
) -> None:
    url, _ = raw_socket_server
    endpoint = parse_url(url)
    for call in (
        lambda: txt2img(endpoint, SMALL, timeout=timeout),
        lambda: get_json(endpoint, "/sdapi/v1/options", timeout=timeout),
        lambda: run_load(endpoint, SMALL, requests=1, concurrency=1, timeout=timeout, progress=False),
    ):
        with pytest.raises(BenchError, match=r"^--timeout .* must be a finite number of seconds above 0"):
            call()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"<html>not json</html>", "bad JSON"),
        (200, b'{"images": "nope"}', 'no "images" list'),
        (200, json.dumps({"images": ["!!notbase64!!"]}).encode(), "bad image 0"),
        (
            200,
            json.dumps({"images": [base64.b64encode(_png_bytes(32, 32)).decode()]}).encode(),
            "32x32, asked 64x64",
        ),
        (
            500,
            b'{"detail": "CUDA out of memory"}',
            "HTTP 500 from POST /sdapi/v1/txt2img: CUDA out of memory",
        ),
    ],
)
def test_bad_replies_are_one_line_reasons(
    canned: type[_Canned], status: int, body: bytes, expected: str
) -> None:
    canned.status, canned.body = status, body
    reply = txt2img(parse_url(canned.url), SMALL, timeout=5)  # type: ignore[attr-defined]
    assert not reply.ok and expected in reply.reason and "\n" not in reply.reason


def test_some_failed_requests_make_an_error_row_with_stats(canned: type[_Canned]) -> None:
    # Two replies are the right image, then the server fails one: the row keeps what succeeded.
    canned.body = json.dumps({"images": [base64.b64encode(_png_bytes(64, 64)).decode()]}).encode()
    endpoint = parse_url(canned.url)  # type: ignore[attr-defined]
    result = run_load(endpoint, SMALL, requests=2, concurrency=1, timeout=5, progress=False)
    canned.status = 503
    result.replies.append(txt2img(endpoint, SMALL, timeout=5))
    result.requests = 3
    entry = benchmark_entry(result, SMALL, endpoint, "m")
    info = entry["extra_info"]
    assert info["status"] == "error" and info["errors"] == 1 and info["completed"] == 2
    assert info["reason"].startswith("1 of 3 requests failed: 1x HTTP 503")
    assert entry["stats"]["rounds"] == 2


# --- rows, the report, the study --------------------------------------------------------------


def test_rows_are_a_run_the_reports_read(server: Endpoint, tmp_path: Path) -> None:
    result = run_load(server, SMALL, requests=2, concurrency=1, timeout=TIMEOUT, progress=False)
    entry = benchmark_entry(result, SMALL, server, "tiny-sd")
    assert entry["extra_info"]["loadavg_1m"] >= 0  # the machine's load travels with the latencies
    path = save_run(run_document([entry]), tmp_path / "runs", "webui")
    assert path.name == "0001_webui.json"
    assert save_run(run_document([entry]), tmp_path / "runs", "webui").name == "0002_webui.json"
    frame = reports.load(path, strict=True)
    row = frame.iloc[0]
    assert (row["model"], row["variant"], row["status"]) == ("tiny-sd", "webui(concurrency=1)", "ok")
    # The suite's label for the same workload (reports.record.workload_label): a prompt other than
    # the default is named, as in the suite's rows.
    assert row["workload"] == "64x64/2steps/cfg7.5/b1/euler/prompt-baa255f8"
    assert row["latency_median_s"] == pytest.approx(statistics.median(result.latencies))
    assert row["rounds"] == 2

    assert reports_cli.main(["webui", str(path), "--output-dir", str(tmp_path)]) == 0
    table = (tmp_path / "webui.md").read_text()
    assert "webui" in table and "| ok " in table
    assert (tmp_path / "webui.png").read_bytes().startswith(png.SIGNATURE)


def test_study_against_a_running_server_writes_table_and_plot(server: Endpoint, tmp_path: Path) -> None:
    argv = ["webui", "--url", server.url, "--requests", "1", "--concurrency", "1,2", "--steps", "2"]
    assert studies_cli.main([*argv, "--output-dir", str(tmp_path)]) == 0
    frame = reports.load(tmp_path / "runs", strict=True)
    assert sorted(frame["variant"]) == ["webui(concurrency=1)", "webui(concurrency=2)"]
    assert set(frame["status"]) == {"ok"}
    assert (tmp_path / "webui.png").exists() and "concurrency" in (tmp_path / "webui.md").read_text()


def test_study_against_a_down_server_exits_0_with_error_rows(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    argv = ["webui", "--url", url, "--requests", "2", "--concurrency", "1,2", "--timeout", "5"]
    assert studies_cli.main([*argv, "--output-dir", str(tmp_path)]) == 0
    table = (tmp_path / "webui.md").read_text()
    assert table.count("| error ") == 2 and "connection refused" in table
    assert (tmp_path / "webui.png").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "ftp://127.0.0.1"], "not an http(s) URL"),
        (["--url", "http://127.0.0.1:1", "--concurrency", "1,0"], "--concurrency 0 must be at least 1"),
        (["--url", "http://127.0.0.1:1", "--requests", "many"], "--requests 'many' is not a whole number"),
        (["--url", "http://127.0.0.1:1", "--timeout", "nan"], "--timeout 'nan' is not a finite number"),
        (["--url", "http://127.0.0.1:1", "--timeout", "inf"], "--timeout 'inf' is not a finite number"),
        (
            ["--url", "http://127.0.0.1:1", "--timeout", "0"],
            "--timeout 0.0 must be a finite number of seconds",
        ),
        (
            ["--url", "http://127.0.0.1:1", "--timeout", "-5"],
            "--timeout -5.0 must be a finite number of seconds",
        ),
        (["--url", "http://127.0.0.1:1", "--cfg-scale", "nan"], "--cfg-scale 'nan' is not a finite number"),
    ],
)
def test_study_bad_input_is_one_line_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert studies_cli.main(["webui", *argv, "--output-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_serve_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve.main(["--model", "no-such-model", "--port", "0"]) == 2
    assert serve.main(["--port", "70000"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and "no-such-model" in errors[0] and "70000" in errors[1]


def test_reports_webui_tells_runs_of_the_same_name_apart(tmp_path: Path) -> None:
    endpoint = parse_url(f"http://127.0.0.1:{closed_port()}")
    for folder in ("before", "after"):
        result = run_load(endpoint, SMALL, requests=1, concurrency=1, timeout=5, progress=False)
        save_run(
            run_document([benchmark_entry(result, SMALL, endpoint, None)]),
            tmp_path / folder / "runs",
            "webui",
        )
    assert reports_cli.main(["webui", str(tmp_path), "--output-dir", str(tmp_path)]) == 0
    table = (tmp_path / "webui.md").read_text()
    assert "after/0001_webui" in table and "before/0001_webui" in table


def test_reports_webui_without_webui_rows_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = {"machine_info": {}, "benchmarks": [{"name": "t", "extra_info": {"variant": "fp32"}, "stats": {}}]}
    (tmp_path / "r.json").write_text(json.dumps(run))
    with pytest.raises(SystemExit) as exit_info:
        reports_cli.main(["webui", str(tmp_path), "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2 and "no web UI rows" in capsys.readouterr().err


# --- pieces -----------------------------------------------------------------------------------


def test_png_decoder_checks_the_whole_file() -> None:
    data = _png_bytes(5, 3)
    image = png.decode(data)
    assert (image.width, image.height, image.colour_type) == (5, 3, 2)
    with pytest.raises(png.PngError, match="IEND"):
        png.decode(data[:-12])
    corrupt = bytearray(data)
    corrupt[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    with pytest.raises(png.PngError, match="CRC"):
        png.decode(bytes(corrupt))
    with pytest.raises(png.PngError, match="signature"):
        png.decode(b"GIF89a")
    # A header that promises more rows than the data holds.
    header = struct.pack(">IIBBBBB", 5, 4, 8, 2, 0, 0, 0)
    chunk = (
        struct.pack(">I", len(header)) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    )
    lying = data[:8] + chunk + data[8 + len(chunk) :]
    with pytest.raises(png.PngError, match="not 64 for 5x4"):
        png.decode(lying)


def test_parse_url() -> None:
    endpoint = parse_url("http://127.0.0.1:7860/")
    assert (endpoint.host, endpoint.port, endpoint.prefix, endpoint.url) == (
        "127.0.0.1",
        7860,
        "",
        "http://127.0.0.1:7860",
    )
    assert parse_url("https://example.org/webui").port == 443
    for bad in ("127.0.0.1:7860", "http://", "http://h:99999", "http://h/?x=1"):
        with pytest.raises(ValueError, match="--url"):
            parse_url(bad)


def test_vram_is_null_with_the_reason_when_not_measurable() -> None:
    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1")
    assert not is_local("192.0.2.7")
    remote = DeviceMemorySampler("192.0.2.7")
    with remote:
        pass
    assert remote.peak_mib is None and "not on this machine" in remote.note
    local = DeviceMemorySampler("127.0.0.1")
    with local:
        pass
    if local.peak_mib is None:
        assert local.note.startswith("not measured")
    else:  # a machine with NVML and a GPU: a real figure, at least the idle one
        assert local.idle_mib is not None and local.peak_mib >= local.idle_mib


def test_study_serve_starts_and_stops_the_local_server(tmp_path: Path) -> None:
    argv = ["webui", "--serve", "tiny-sd", "--serve-threads", "1", "--requests", "1", "--concurrency", "1"]
    argv += ["--steps", "1"]
    assert studies_cli.main([*argv, "--output-dir", str(tmp_path)]) == 0
    frame = reports.load(tmp_path / "runs", strict=True)
    assert list(frame["status"]) == ["ok"] and list(frame["model"]) == ["tiny-sd"]
    (run,) = (tmp_path / "runs").glob("*.json")
    url = json.loads(run.read_text())["benchmarks"][0]["extra_info"]["url"]
    assert not txt2img(parse_url(url), SMALL, timeout=5).ok  # the server is gone with the study


def test_study_serve_with_an_unknown_model_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert studies_cli.main(["webui", "--serve", "no-such-model", "--output-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: the local web UI did not start") and "no-such-model" in error
