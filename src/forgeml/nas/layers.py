"""PyTorch layers shared by the NAS spaces (imported only when a network is built)."""
from __future__ import annotations

import torch
from torch import nn

from forgeml.nn.modules import activation


class ToImage(nn.Module):
    """Flat ``(batch, c*h*w)`` rows to ``(batch, c, h, w)`` images, as the tabular trainer feeds them."""

    def __init__(self, channels: int, h: int, w: int) -> None:
        super().__init__()
        self.shape = (int(channels), int(h), int(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def norm1d(kind: str, width: int) -> nn.Module:
    """``"batch"``, ``"layer"`` or ``"none"`` normalisation over ``width`` features."""
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


class DenseBlock(nn.Module):
    """``Linear -> norm -> activation -> dropout``, plus the input (projected when widths differ) if residual."""

    def __init__(self, n_in: int, n_out: int, *, act: str = "relu", norm: str = "none", dropout: float = 0.0,
                 residual: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, n_out), norm1d(norm, n_out), activation(act),
                                  nn.Dropout(float(dropout)) if dropout > 0 else nn.Identity())
        self.skip = None if not residual else (nn.Identity() if n_in == n_out else nn.Linear(n_in, n_out, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + self.skip(x) if self.skip is not None else out
