"""PyTorch building blocks for tabular networks. torch is imported inside the functions, so importing this module
is free; the MLP family and the NAS strategies both build their networks here."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ACTIVATIONS = ("relu", "silu", "gelu", "tanh")


def activation(name: str) -> Any:
    """A fresh activation module by name (one of ``ACTIVATIONS``)."""
    import torch.nn as nn

    table = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}")
    return table[name]()


def build_mlp(n_in: int, n_out: int, hidden_sizes: Sequence[int], *, dropout: float = 0.0,
              activation_name: str = "relu") -> Any:
    """``Linear -> activation -> Dropout`` per hidden layer, then a linear head with ``n_out`` outputs."""
    import torch.nn as nn

    layers: list[Any] = []
    width = int(n_in)
    for h in hidden_sizes:
        layers += [nn.Linear(width, int(h)), activation(activation_name)]
        if dropout > 0:
            layers.append(nn.Dropout(float(dropout)))
        width = int(h)
    layers.append(nn.Linear(width, int(n_out)))
    return nn.Sequential(*layers)
