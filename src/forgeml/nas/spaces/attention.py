"""The attention space: stacks of transformer cells whose operations include multi-head self-attention, over
per-column feature tokens for tables (FT-Transformer, Gorishniy et al., 2021) and over image patches (a small
ViT, Dosovitskiy et al., 2021). Searched: token width, heads, depth, each cell's operations, the feed-forward
width and activation, dropouts, pre- or post-norm, the pooling, and for images the patch size and stem, together
with the shared training choices.

Validity is by construction, so no genotype needs repair: every ``heads`` choice divides every ``d_token``
choice, only patch sizes that divide both image sides are offered, and the first cell always attends (tokens
exchange information only through attention, so an all-feed-forward stack pooled on its [CLS] token would
predict a constant).

Tables: column ``j`` becomes the token ``x_j * W_j + b_j``. One-hot and missing-indicator columns get tokens
like numeric ones (for a 0/1 column that is an embedding lookup). Attention costs ``tokens²`` per row, so a table
with more than ``max_tokens`` columns (64 by default) is first mapped by a learned linear layer to ``max_tokens``
virtual columns, which are then tokenized the same way: wide tables still work, at bounded cost.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from forgeml.nas.base import NASSpace, Problem
from forgeml.nas.layers import ToImage
from forgeml.nas.spaces.macro import training_space
from forgeml.space import Categorical, Condition, Float, Int, SearchSpace

MAX_TOKENS = 64
D_TOKENS = (16, 32, 64)
HEADS = (1, 2, 4, 8)
MAX_DEPTH = 3
#: What one cell computes: both sublayers (a transformer block), only token mixing, or only per-token work.
OPS = ("attention+ffn", "attention", "ffn")
FIRST_OPS = ("attention+ffn", "attention")  # the first cell must attend (see the module docstring)
STEM_CHANNELS = 16
EVAL_CHUNK = 1024  # rows per forward pass at inference: bounds the tokens x tokens attention memory

assert all(d % h == 0 for d in D_TOKENS for h in HEADS), "every head count must divide every token width"


def patch_sizes(h: int, w: int, max_tokens: int = MAX_TOKENS) -> tuple[int, ...]:
    """Square patch sizes dividing both sides into 2 to ``max_tokens`` patches; single pixels only when nothing
    larger fits (one-pixel patches make many tokens that say little)."""
    fits = [p for p in range(1, min(h, w) + 1)
            if h % p == 0 and w % p == 0 and 2 <= (h // p) * (w // p) <= max_tokens]
    return tuple(p for p in fits if p > 1) or tuple(fits)


class AttentionSpace(NASSpace):
    """``max_tokens``: the most tokens a table or image becomes (see the module docstring)."""

    name = "attention"
    spatial = True

    def __init__(self, max_tokens: int = MAX_TOKENS) -> None:
        self.max_tokens = int(max_tokens)

    def applies_to(self, problem: Problem) -> bool:
        if problem.image_shape is None:
            return True
        return problem.channels >= 1 and bool(patch_sizes(*problem.image_shape, self.max_tokens))

    def space(self, problem: Problem) -> SearchSpace:
        params: dict[str, Any] = {}
        if problem.image_shape is not None:
            h, w = problem.image_shape
            sizes = patch_sizes(h, w, self.max_tokens)
            # default: the patch size nearest to 16 patches, as a small ViT on small images
            best = min(sizes, key=lambda p: (abs(math.log((h // p) * (w // p) / 16)), p))
            params["patch"] = Categorical(sizes, default=best, fixed_in_training=True)
            params["stem"] = Categorical(("linear", "conv"), fixed_in_training=True)
        params.update({
            "d_token": Categorical(D_TOKENS, default=32, fixed_in_training=True),
            "heads": Categorical(HEADS, default=4, fixed_in_training=True),
            "depth": Int(1, MAX_DEPTH, default=2, fixed_in_training=True),
            **{f"cell{i}": Categorical(FIRST_OPS if i == 0 else OPS, fixed_in_training=True)
               for i in range(MAX_DEPTH)},
            "ffn_factor": Categorical((1, 2, 4), default=2, fixed_in_training=True),
            "activation": Categorical(("gelu", "reglu"), fixed_in_training=True),
            "attn_dropout": Categorical((0.0, 0.1, 0.2), default=0.1),
            "ffn_dropout": Categorical((0.0, 0.1, 0.2), default=0.1),
            "prenorm": Categorical((True, False), fixed_in_training=True),
            "pooling": Categorical(("cls", "mean"), fixed_in_training=True),
            **training_space(problem),
            # transformers want smaller steps than MLPs (FT-Transformer tunes 1e-5 to 1e-3)
            "lr": Float(1e-4, 3e-3, log=True, default=1e-3),
        })
        conditions = {f"cell{i}": Condition("depth", tuple(range(i + 1, MAX_DEPTH + 1))) for i in range(1, MAX_DEPTH)}
        return SearchSpace(params, conditions)

    def cells(self, genotype: Mapping[str, Any]) -> list[str]:
        """The operations of each cell, first to last."""
        return [str(genotype.get(f"cell{i}", OPS[0])) for i in range(int(genotype.get("depth", 2)))]

    def build(self, genotype: Mapping[str, Any], problem: Problem) -> nn.Module:
        g = genotype
        d, heads = int(g.get("d_token", 32)), int(g.get("heads", 4))
        if d % heads:
            raise ValueError(f"heads={heads} does not divide d_token={d}")
        ops = self.cells(g)
        if not ops or "attention" not in ops[0]:
            raise ValueError(f"the first cell must attend, got {ops[:1]}")
        if problem.image_shape is None:
            embed: nn.Module = FeatureTokenizer(problem.n_features, d, self.max_tokens)
        else:
            h, w = problem.image_shape
            patch = int(g.get("patch", patch_sizes(h, w, self.max_tokens)[0]))
            if h % patch or w % patch:
                raise ValueError(f"patch {patch} does not divide the {h}x{w} image")
            embed = PatchEmbedding(problem.channels, h, w, patch, d, stem=str(g.get("stem", "linear")))
        prenorm = bool(g.get("prenorm", True))
        blocks = [Cell(d, heads, op, ffn_factor=int(g.get("ffn_factor", 2)),
                       activation=str(g.get("activation", "gelu")), attn_dropout=float(g.get("attn_dropout", 0.0)),
                       ffn_dropout=float(g.get("ffn_dropout", 0.0)), prenorm=prenorm) for op in ops]
        return AttentionNet(embed, blocks, d, problem.n_outputs, pooling=str(g.get("pooling", "cls")),
                            prenorm=prenorm)


# --- the network ---------------------------------------------------------------------------------------------
class FeatureTokenizer(nn.Module):
    """Flat rows ``(b, n)`` to tokens ``(b, n, d)``: column ``j`` becomes ``x_j * W_j + b_j``. Over ``max_tokens``
    columns a learned linear map to ``max_tokens`` virtual columns comes first."""

    def __init__(self, n_features: int, d: int, max_tokens: int = MAX_TOKENS) -> None:
        super().__init__()
        n = min(int(n_features), int(max_tokens))
        self.compress = nn.Linear(n_features, n) if n_features > n else None
        bound = 1 / math.sqrt(d)  # FT-Transformer's initialisation
        self.weight = nn.Parameter(torch.empty(n, d).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, d).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.compress is not None:
            x = self.compress(x)
        return x.unsqueeze(-1) * self.weight + self.bias


class PatchEmbedding(nn.Module):
    """Flat pixels to one token per ``patch x patch`` square (a linear map of each patch, written as a strided
    convolution), plus learned position embeddings. ``stem="conv"`` first runs a 3x3 convolution, so tokens see
    edges that cross patch borders."""

    def __init__(self, channels: int, h: int, w: int, patch: int, d: int, *, stem: str = "linear") -> None:
        super().__init__()
        if stem not in ("linear", "conv"):
            raise ValueError(f"unknown stem {stem!r}; use 'linear' or 'conv'")
        self.to_image = ToImage(channels, h, w)
        self.stem = nn.Sequential(nn.Conv2d(channels, STEM_CHANNELS, 3, padding=1), nn.GELU()) \
            if stem == "conv" else nn.Identity()
        self.proj = nn.Conv2d(STEM_CHANNELS if stem == "conv" else channels, d, patch, stride=patch)
        self.position = nn.Parameter(torch.randn(1, (h // patch) * (w // patch), d) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.proj(self.stem(self.to_image(x)))  # (b, d, h/p, w/p)
        return z.flatten(2).transpose(1, 2) + self.position


class SelfAttention(nn.Module):
    """Multi-head self-attention through ``scaled_dot_product_attention`` (fused kernels where torch has them)."""

    def __init__(self, d: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.dropout = int(heads), float(dropout)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(o.transpose(1, 2).reshape(b, n, d))


class FeedForward(nn.Module):
    """Per-token ``d -> factor*d -> d``, with GELU or ReGLU (FT-Transformer's gated ReLU)."""

    def __init__(self, d: int, factor: int, activation: str = "gelu", dropout: float = 0.0) -> None:
        super().__init__()
        if activation not in ("gelu", "reglu"):
            raise ValueError(f"unknown activation {activation!r}; use 'gelu' or 'reglu'")
        hidden = int(factor) * d
        self.gated = activation == "reglu"
        self.inner = nn.Linear(d, 2 * hidden if self.gated else hidden)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.outer = nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inner(x)
        if self.gated:
            a, gate = z.chunk(2, dim=-1)
            z = a * F.relu(gate)
        else:
            z = F.gelu(z)
        return self.outer(self.drop(z))


class Cell(nn.Module):
    """One cell: its operations (``OPS``), each in a residual branch, layer-normed before (pre-norm: stabler in
    deep or high-lr stacks) or after (post-norm, the original transformer)."""

    def __init__(self, d: int, heads: int, op: str, *, ffn_factor: int = 2, activation: str = "gelu",
                 attn_dropout: float = 0.0, ffn_dropout: float = 0.0, prenorm: bool = True) -> None:
        super().__init__()
        if op not in OPS:
            raise ValueError(f"unknown cell operation {op!r}; use one of {', '.join(OPS)}")
        self.prenorm = bool(prenorm)
        parts = []
        if "attention" in op:
            parts.append(SelfAttention(d, heads, attn_dropout))
        if "ffn" in op:
            parts.append(FeedForward(d, ffn_factor, activation, ffn_dropout))
        self.parts = nn.ModuleList(parts)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for part, norm in zip(self.parts, self.norms):
            x = x + part(norm(x)) if self.prenorm else norm(x + part(x))
        return x


class AttentionNet(nn.Module):
    """Tokens, an optional [CLS] token, the cells, pooling (the [CLS] token or the mean token) and a linear head.

    Takes flat float rows and returns logits (one value for regression), as ``forgeml.nn.trainer`` expects."""

    def __init__(self, embed: nn.Module, cells: list[nn.Module], d: int, n_outputs: int, *, pooling: str = "cls",
                 prenorm: bool = True) -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"unknown pooling {pooling!r}; use 'cls' or 'mean'")
        self.embed = embed
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02) if pooling == "cls" else None
        self.cells = nn.ModuleList(cells)
        self.norm = nn.LayerNorm(d) if prenorm else nn.Identity()  # pre-norm leaves the residual stream raw
        self.head = nn.Linear(d, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and len(x) > EVAL_CHUNK:
            return torch.cat([self(x[i:i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)])
        t = self.embed(x)
        if self.cls is not None:
            t = torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1)
        for cell in self.cells:
            t = cell(t)
        return self.head(self.norm(t[:, 0] if self.cls is not None else t.mean(dim=1)))
