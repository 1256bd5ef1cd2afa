"""Export machinery: torch modules -> ONNX files -> ONNX Runtime / TensorRT modules that the
diffusers pipeline calls exactly as it calls the modules they replace."""
