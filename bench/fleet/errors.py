from bench.errors import BenchError


class FleetError(BenchError):
    """A fleet command's bad input or a cluster that cannot serve it; the message is one line."""
