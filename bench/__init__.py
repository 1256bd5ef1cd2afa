"""Instruments, hardware context and the pytest-benchmark suite."""
