"""Variant formats: how a built variant is written to the cache and read back.

Each format is one module here that registers itself (`@register_format`); the registry finds
them on the first lookup (optimize/plugins.py). Format names live in `names.py`.
"""

from optimize.formats.base import FORMATS, VariantFormat, get_format, register_format
from optimize.formats.names import DEFAULT_FORMAT

__all__ = ["DEFAULT_FORMAT", "FORMATS", "VariantFormat", "get_format", "register_format"]
