"""Format names, importable without importing the formats (which import recipes)."""

DEFAULT_FORMAT = "state_dict/1"
