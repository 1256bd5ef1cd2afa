"""The streaming safetensors writer: files safetensors itself reads, without a copy of the state."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from optimize.formats.tensor_file import save_tensors


def test_every_kind_of_tensor_round_trips_through_safetensors_own_reader(tmp_path):
    base = torch.randn(4, 6)
    tensors = {
        "weight": base,
        "a_view_sharing_storage": base[:, 1:3],  # safetensors' save_file refuses this one
        "transposed": base.t(),
        "bf16": torch.randn(3, 5).to(torch.bfloat16),
        "fp16": torch.randn(7).half(),
        "int8": torch.randint(-128, 127, (9,), dtype=torch.int8),
        "scalar": torch.tensor(5, dtype=torch.int64),
        "empty": torch.zeros(0, 3),
        "mask": torch.ones(2, 2, dtype=torch.bool),
        "param": torch.nn.Parameter(torch.randn(2, 3)),
    }
    path = tmp_path / "state.safetensors"
    save_tensors(tensors, path, metadata={"layers": "{}"})
    loaded = load_file(str(path))
    assert sorted(loaded) == sorted(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor.detach()), name
    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata() == {"layers": "{}"}


def test_the_same_tensors_give_the_same_data_as_safetensors_save_file(tmp_path):
    tensors = {"b": torch.randn(3, 3), "a": torch.arange(10, dtype=torch.int32)}
    save_tensors(tensors, tmp_path / "ours.safetensors")
    save_file(tensors, str(tmp_path / "theirs.safetensors"))
    ours = load_file(str(tmp_path / "ours.safetensors"))
    theirs = load_file(str(tmp_path / "theirs.safetensors"))
    assert all(torch.equal(ours[name], theirs[name]) for name in tensors)


def test_saving_copies_no_tensor_that_is_already_contiguous_on_the_cpu(tmp_path, monkeypatch):
    """The formats used to clone the whole state dict (safetensors refuses shared storage)."""
    copies: list[torch.Size] = []
    real_contiguous, real_clone = torch.Tensor.contiguous, torch.Tensor.clone

    def counting_contiguous(self, *args, **kwargs):
        if not self.is_contiguous():
            copies.append(self.shape)
        return real_contiguous(self, *args, **kwargs)

    def counting_clone(self, *args, **kwargs):
        copies.append(self.shape)
        return real_clone(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "contiguous", counting_contiguous)
    monkeypatch.setattr(torch.Tensor, "clone", counting_clone)
    module = torch.nn.Linear(64, 32)
    save_tensors(module.state_dict(), tmp_path / "linear.safetensors")
    assert copies == []
    base = torch.randn(4, 6)
    save_tensors({"t": base.t()}, tmp_path / "t.safetensors")
    assert copies == [torch.Size([6, 4])]  # only the tensor that had to be made contiguous


def test_a_dtype_safetensors_cannot_store_is_refused(tmp_path):
    with pytest.raises(TypeError, match="no dtype"):
        save_tensors({"z": torch.zeros(2, dtype=torch.complex128)}, tmp_path / "z.safetensors")
