"""Format names, importable without importing the formats (which import recipes)."""

DEFAULT_FORMAT = "state_dict/1"
ONNX_FORMAT = "onnx/1"  # exported graphs / engines per component (optimize/formats/onnx.py)
COMPILED_FORMAT = "compiled/1"  # base weights; compiled again on load (optimize/formats/compiled.py)
