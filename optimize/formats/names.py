"""Every variant format's name, owned here: passes name the format their output needs
(`Pass.output_format`) and formats register under it, without importing each other.

A name is part of each cache entry's key and manifest: change it and every entry is rebuilt.
"""

DEFAULT_FORMAT = "state_dict/1"  # each torch component's weights, same architecture (state_dict.py)
COMPILED_FORMAT = "compiled/1"  # base weights; compiled again on load (compiled.py)
ONNX_FORMAT = "onnx/1"  # exported graphs / engines per component (onnx.py)
PRUNED_FORMAT = "pruned/1"  # the pruned structure + every component's weights (pruned.py)
QUANTISED_FORMAT = "quantised/1"  # quantised layers as plain tensors, on any saved structure (quantised.py)
LORA_FUSED_FORMAT = "lora-fused/1"  # fused weights restored onto the model without its LoRA layers
