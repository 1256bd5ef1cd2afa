"""Silence the known, harmless log lines that optional quantisation libraries print on import.

diffusers imports torchao and bitsandbytes when they are installed. On a CPU-only machine
torchao logs that its CUDA-only kernel libraries (`_C_mxfp8*.so`, `_C_cutlass_90a*.so`)
cannot load, torch's pytree logs a deprecation for torchao's enum registrations, and
diffusers logs that some torchao tensor classes it registers for `torch.load` are gone
(diffbench never torch.loads torchao checkpoints), and bitsandbytes logs that an optional
Hub kernel is missing. Each line is dropped by an exact filter
on its own logger; every other message of those loggers still reaches the user.
"""

from __future__ import annotations

import logging

# logger name -> fragments that must ALL be in a message for it to be dropped.
_KNOWN_NOISE: dict[str, tuple[str, ...]] = {
    "torchao": ("Failed to load", "/torchao/_C", ".so"),
    "torch.utils._pytree": ("is an Enum subclass and is now natively supported",),
    "diffusers.quantizers.torchao.torchao_quantizer": ("Unable to import `torchao` Tensor objects",),
    # On AVX-512 CPUs bitsandbytes looks for an optional Hub kernel for 4-bit matmuls and falls
    # back to its own CPU kernel when the `kernels` package is absent (nf4 still runs).
    "bitsandbytes.backends.cpu.ops": ("Failed to load CPU gemm_4bit_forward from kernels-community",),
}


class _DropKnownLine(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not all(fragment in message for fragment in self.fragments)


def silence_known_import_noise() -> None:
    """Idempotent; runs when this module is imported, which models/__init__.py does first."""
    for name, fragments in _KNOWN_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnownLine) for f in logger.filters):
            logger.addFilter(_DropKnownLine(fragments))


silence_known_import_noise()
