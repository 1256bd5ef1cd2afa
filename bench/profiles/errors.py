from bench.errors import BenchError


class ProfileError(BenchError):
    """A profile that is unknown, malformed or cannot be emulated here; the message names it and why."""
