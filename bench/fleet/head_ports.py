"""The head's two ports, checked before `ray start --head` so a bad one is one line, not Ray's traceback.

`ray start` gives workers the ports 10002 to 19999 unless told otherwise (its `--min-worker-port`
and `--max-worker-port` defaults), and refuses with a ValueError traceback a GCS or Ray Client port
inside that range, or the two ports the same. A port something already listens on (a head started
earlier) fails later still, after Ray has started part of the head.
"""

from __future__ import annotations

import socket

from bench.fleet.errors import FleetError

RAY_WORKER_PORTS = range(10002, 20000)  # `ray start`'s default --min-worker-port..--max-worker-port
MIN_CLIENT_PORT = 1024  # Ray refuses a lower --ray-client-server-port (its parameter check)


def parse_port(text: str, option: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise FleetError(f"{option} {text!r} is not a port number (1 to 65535)")
    return int(text)


def head_ports(port_text: str, client_text: str) -> tuple[int, int]:
    """(GCS port, Ray Client port), each a number outside Ray's worker ports, the two different."""
    port = parse_port(port_text, "--port")
    client = parse_port(client_text, "--client-port")
    if client < MIN_CLIENT_PORT:
        raise FleetError(
            f"--client-port {client}: Ray takes a Ray Client port from {MIN_CLIENT_PORT} to 65535"
        )
    for option, number in (("--port", port), ("--client-port", client)):
        if number in RAY_WORKER_PORTS:
            raise FleetError(
                f"{option} {number} is among the ports Ray gives its workers "
                f"({RAY_WORKER_PORTS.start} to {RAY_WORKER_PORTS.stop - 1}); choose one outside them "
                "(defaults: --port 6379, --client-port 10001)"
            )
    if port == client:
        raise FleetError(f"--port and --client-port are both {port}; give the head two different ports")
    return port, client


def check_free(port: int, option: str) -> None:
    """FleetError when something on this machine already listens on `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: a socket of a stopped head lingering in TIME_WAIT does not count as in use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except PermissionError:
            raise FleetError(
                f"{option} {port}: this user may not listen on it (ports under 1024 need root); "
                "give another port"
            ) from None
        except OSError as error:
            raise FleetError(
                f"{option} {port}: the port is in use on this machine ({error.strerror or error}); "
                "a head already running here is stopped with `diffbench fleet stop`, or give another port"
            ) from None
