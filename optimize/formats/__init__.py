"""Variant formats register themselves on import; add new ones here."""

from optimize.formats import (
    compiled,  # noqa: F401
    onnx,  # noqa: F401
    pruned,  # noqa: F401
    quantised,  # noqa: F401
    state_dict,  # noqa: F401
)
from optimize.formats.base import FORMATS, VariantFormat, get_format, register_format
from optimize.formats.names import DEFAULT_FORMAT

__all__ = ["DEFAULT_FORMAT", "FORMATS", "VariantFormat", "get_format", "register_format"]
