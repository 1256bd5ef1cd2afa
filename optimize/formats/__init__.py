"""Variant formats register themselves on import; add new ones here."""

from optimize.formats import state_dict  # noqa: F401
from optimize.formats.base import FORMATS, VariantFormat, get_format, register_format
from optimize.formats.names import DEFAULT_FORMAT

__all__ = ["DEFAULT_FORMAT", "FORMATS", "VariantFormat", "get_format", "register_format"]
