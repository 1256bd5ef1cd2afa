"""Run one ONNX Runtime session on torch tensors: numpy on CPU, IO binding on CUDA (no host copies)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

_NUMPY = {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int64, torch.int32: np.int32}


class OrtRunner:
    def __init__(self, session: Any, device: torch.device) -> None:
        self.session = session
        self.device = device
        self.input_names = [item.name for item in session.get_inputs()]
        self.output_names = [item.name for item in session.get_outputs()]

    @property
    def provider(self) -> str:
        """The provider the session really got (first in its list), not the one requested."""
        return self.session.get_providers()[0]

    @property
    def binds_cuda(self) -> bool:
        return self.device.type == "cuda" and self.provider in (
            "CUDAExecutionProvider",
            "TensorrtExecutionProvider",
        )

    def run(
        self, inputs: dict[str, torch.Tensor], output_shapes: Sequence[tuple[int, ...]]
    ) -> list[torch.Tensor]:
        """Outputs as float32 torch tensors on the runner's device, in the session's output order."""
        if self.binds_cuda:
            return self._run_bound(inputs, output_shapes)
        feed = {name: inputs[name].detach().cpu().contiguous().numpy() for name in self.input_names}
        results = self.session.run(self.output_names, feed)
        return [torch.from_numpy(np.ascontiguousarray(r)).to(self.device) for r in results]

    def _run_bound(
        self, inputs: dict[str, torch.Tensor], output_shapes: Sequence[tuple[int, ...]]
    ) -> list[torch.Tensor]:
        """IO binding: ORT reads and writes torch's CUDA buffers directly."""
        index = self.device.index if self.device.index is not None else 0
        binding = self.session.io_binding()
        keep_alive = []
        for name in self.input_names:
            tensor = inputs[name].to(self.device).contiguous()
            keep_alive.append(tensor)
            binding.bind_input(
                name, "cuda", index, _NUMPY[tensor.dtype], tuple(tensor.shape), tensor.data_ptr()
            )
        outputs = [torch.empty(shape, dtype=torch.float32, device=self.device) for shape in output_shapes]
        for name, tensor in zip(self.output_names, outputs, strict=True):
            binding.bind_output(name, "cuda", index, np.float32, tuple(tensor.shape), tensor.data_ptr())
        # torch may still be writing the inputs on its stream; ORT uses its own.
        torch.cuda.synchronize(self.device)
        self.session.run_with_iobinding(binding)
        return outputs
