"""The cell space (DARTS, Liu et al. 2019): one small DAG, the *cell*, searched once and stacked into a network.

A cell has two inputs (the outputs of the two cells before it) and ``nodes`` intermediate nodes; node ``i`` sums
two edges, each one operation applied to one of the cell's inputs or an earlier node (``{kind}.n{i}.in{j}``
indexes them: 0 and 1 are the inputs, ``2 + k`` node ``k``; ``{kind}.n{i}.op{j}`` names the operation). The cell's
output concatenates its nodes. For images there are two cell kinds: *normal* cells keep the resolution, a
*reduction* cell halves it (stride 2 on the edges from its inputs) and doubles the channels. For tables the same
DAG runs over feature vectors with dense operations. Searched besides: ``channels`` (images) or ``width``
(tables), the number of ``cells``, and the training choices every space shares.

DARTS needs the continuous relaxation too: ``supernet`` puts every operation on every edge, mixed by
``softmax(alpha)``, and ``discretize`` turns learned alphas back into a genotype of this space.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from forgeml.nas.base import NASSpace, Problem
from forgeml.nas.layers import ToImage
from forgeml.nas.spaces.macro import training_space
from forgeml.space import Categorical, Config, Int, SearchSpace

IMAGE_OPS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "avg_pool_3x3",
             "identity", "zero")
DENSE_OPS = ("linear", "linear_bn", "gated", "dropout_linear", "identity", "zero")
CHANNELS = (8, 16, 24, 32)
WIDTHS = (32, 64, 128, 256)
#: The default cell (a residual chain): node i = main(latest state) + side(the state before it).
DEFAULT_OPS = {"image": {"normal": ("sep_conv_3x3", "identity"), "reduce": ("sep_conv_3x3", "max_pool_3x3")},
               "dense": {"normal": ("linear_bn", "identity")}}


# --- operations ----------------------------------------------------------------------------------------------
class Zero(nn.Module):
    """The ``zero`` (none) operation: zeros shaped like the other edges' outputs, still part of the graph."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return x * 0.0


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1x1 convolutions (DARTS' strided skip connection); odd
    sides are padded first, so every stride-2 edge gives ``ceil(side / 2)``."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        self.a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.b = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return self.bn(torch.cat([self.a(x), self.b(x[:, :, 1:, 1:])], dim=1))


def _relu_conv_bn(c_in: int, c_out: int, affine: bool) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=affine))


def _dw(c: int, k: int, stride: int, dilation: int, affine: bool) -> list[nn.Module]:
    """ReLU, depthwise kxk, pointwise 1x1, batch norm."""
    return [nn.ReLU(), nn.Conv2d(c, c, k, stride, dilation * (k - 1) // 2, dilation=dilation, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine)]


def image_op(name: str, c: int, stride: int, affine: bool = True) -> nn.Module:
    """One image operation on ``c`` channels (search-time ``affine=False`` as in DARTS)."""
    if name.startswith("sep_conv_"):
        k = int(name[-1])
        return nn.Sequential(*_dw(c, k, stride, 1, affine), *_dw(c, k, 1, 1, affine))
    if name.startswith("dil_conv_"):
        return nn.Sequential(*_dw(c, int(name[-1]), stride, 2, affine))
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = nn.MaxPool2d(3, stride, 1) if name[0] == "m" else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        return pool if affine else nn.Sequential(pool, nn.BatchNorm2d(c, affine=False))
    if name == "identity":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name == "zero":
        return Zero(stride)
    raise ValueError(f"unknown image operation {name!r}; use one of {', '.join(IMAGE_OPS)}")


def dense_op(name: str, c: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """One operation on feature vectors of width ``c`` (``stride`` is unused: tables have no resolution)."""
    table = {
        "linear": lambda: nn.Sequential(nn.Linear(c, c), nn.ReLU()),
        "linear_bn": lambda: nn.Sequential(nn.Linear(c, c), nn.BatchNorm1d(c, affine=affine), nn.ReLU()),
        "gated": lambda: nn.Sequential(nn.Linear(c, 2 * c), nn.GLU(dim=-1)),
        "dropout_linear": lambda: nn.Sequential(nn.Dropout(0.2), nn.Linear(c, c), nn.ReLU()),
        "identity": nn.Identity,
        "zero": Zero,
    }
    if name not in table:
        raise ValueError(f"unknown dense operation {name!r}; use one of {', '.join(DENSE_OPS)}")
    return table[name]()


class MixedOp(nn.Module):
    """Every operation on one edge, summed with the weights ``softmax(alpha)`` gives it; ``zero`` adds nothing
    but its weight still takes share from the others."""

    def __init__(self, make: Any, ops: tuple[str, ...], c: int, stride: int) -> None:
        super().__init__()
        self.index = [i for i, name in enumerate(ops) if name != "zero"]
        self.ops = nn.ModuleList(make(ops[i], c, stride, False) for i in self.index)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = None
        for i, op in zip(self.index, self.ops):
            y = weights[i] * op(x)
            out = y if out is None else out + y
        return out


# --- cells and networks --------------------------------------------------------------------------------------
class Cell(nn.Module):
    """``edges[i]`` lists node i's ``(input, op)`` pairs; an op of ``None`` is a mixed op over ``ops``."""

    def __init__(self, image: bool, c_pp: int, c_p: int, c: int, edges: list[list[tuple[int, str | None]]], *,
                 reduction: bool, reduction_prev: bool, ops: tuple[str, ...], affine: bool = True) -> None:
        super().__init__()
        if image:
            self.pre0 = FactorizedReduce(c_pp, c, affine) if reduction_prev else _relu_conv_bn(c_pp, c, affine)
            self.pre1 = _relu_conv_bn(c_p, c, affine)
        else:
            self.pre0, self.pre1 = nn.Linear(c_pp, c), nn.Linear(c_p, c)
        make = image_op if image else dense_op
        self.inputs = [[j for j, _ in node] for node in edges]
        self.ops = nn.ModuleList()
        for i, node in enumerate(edges):
            for j, op in node:
                if not 0 <= j < 2 + i:
                    raise ValueError(f"node {i} of a cell can take inputs 0..{i + 1}, not {j}")
                stride = 2 if reduction and j < 2 else 1
                self.ops.append(MixedOp(make, ops, c, stride) if op is None else make(op, c, stride, affine))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        k = 0
        for inputs in self.inputs:
            out = None
            for j in inputs:
                y = self.ops[k](states[j]) if weights is None else self.ops[k](states[j], weights[k])
                out = y if out is None else out + y
                k += 1
            states.append(out)
        return torch.cat(states[2:], dim=1)


def reduction_plan(problem: Problem, cells: int) -> list[bool]:
    """Which cells reduce: none for tables; for images one (sides under 16) or two, evenly spaced."""
    if problem.image_shape is None:
        return [False] * cells
    side = min(problem.image_shape)
    n = min(cells, 0 if side < 4 else 1 if side < 16 else 2)
    at = {int(cells * (k + 1) / (n + 1)) for k in range(n)}
    return [i in at for i in range(cells)]


class CellNetwork(nn.Module):
    """Stem, ``cells`` stacked cells, global average pooling (images) and a linear head. ``edges`` maps a cell
    kind (``"normal"``, ``"reduce"``) to its node edges."""

    def __init__(self, problem: Problem, channels: int, cells: int, edges: Mapping[str, list], *,
                 ops: tuple[str, ...], affine: bool = True) -> None:
        super().__init__()
        image = problem.image_shape is not None
        c = int(channels)
        if image:
            h, w = problem.image_shape
            self.stem = nn.Sequential(ToImage(problem.channels, h, w),
                                      nn.Conv2d(problem.channels, c, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(c))
        else:
            self.stem = nn.Linear(problem.n_features, c)
        self.reductions = reduction_plan(problem, int(cells))
        self.cells = nn.ModuleList()
        c_pp = c_p = c
        prev = False
        for red in self.reductions:
            c = 2 * c if red else c
            kind = "reduce" if red else "normal"
            self.cells.append(Cell(image, c_pp, c_p, c, edges[kind], reduction=red, reduction_prev=prev, ops=ops,
                                   affine=affine))
            c_pp, c_p, prev = c_p, len(edges[kind]) * c, red
        self.pool = nn.AdaptiveAvgPool2d(1) if image else nn.ReLU()
        self.head = nn.Linear(c_p, problem.n_outputs)

    def cell_weights(self, reduction: bool) -> torch.Tensor | None:
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell, red in zip(self.cells, self.reductions):
            s0, s1 = s1, cell(s0, s1, self.cell_weights(red))
        return self.head(self.pool(s1).flatten(1))


class SuperNet(CellNetwork):
    """Every node connected to every earlier state by a mixed op; ``alpha_normal`` / ``alpha_reduce`` (one row
    per edge, one column per op) are the architecture parameters, kept apart from the weights."""

    def __init__(self, problem: Problem, channels: int, cells: int, nodes: int, ops: tuple[str, ...]) -> None:
        edges = [[(j, None) for j in range(2 + i)] for i in range(nodes)]
        super().__init__(problem, channels, cells, {"normal": edges, "reduce": edges}, ops=ops, affine=False)
        self.ops_names, self.nodes = ops, nodes
        n_edges = sum(2 + i for i in range(nodes))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(n_edges, len(ops)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(n_edges, len(ops)))

    def cell_weights(self, reduction: bool) -> torch.Tensor:
        return F.softmax(self.alpha_reduce if reduction else self.alpha_normal, dim=-1)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("alpha_")]

    def alphas(self) -> dict[str, np.ndarray]:
        return {"normal": self.alpha_normal.detach().cpu().numpy().copy(),
                "reduce": self.alpha_reduce.detach().cpu().numpy().copy()}


# --- the space -----------------------------------------------------------------------------------------------
class CellSpace(NASSpace):
    """``nodes``: intermediate nodes per cell (a genotype carries its own count, so any saved one rebuilds)."""

    name = "cell"
    spatial = True

    def __init__(self, nodes: int = 3) -> None:
        self.nodes = nodes

    @staticmethod
    def ops(problem: Problem) -> tuple[str, ...]:
        return IMAGE_OPS if problem.image_shape is not None else DENSE_OPS

    @staticmethod
    def kinds(problem: Problem) -> tuple[str, ...]:
        return ("normal", "reduce") if problem.image_shape is not None else ("normal",)

    def space(self, problem: Problem) -> SearchSpace:
        image = problem.image_shape is not None
        ops, params = self.ops(problem), {}
        for kind in self.kinds(problem):
            main, side = DEFAULT_OPS["image" if image else "dense"][kind]
            for i in range(int(self.nodes)):
                inputs = tuple(range(2 + i))
                params[f"{kind}.n{i}.in0"] = Categorical(inputs, default=i + 1)
                params[f"{kind}.n{i}.op0"] = Categorical(ops, default=main)
                params[f"{kind}.n{i}.in1"] = Categorical(inputs, default=i)
                params[f"{kind}.n{i}.op1"] = Categorical(ops, default=side)
        if image:
            params["channels"] = Categorical(CHANNELS, default=16)
            params["cells"] = Int(2, 5, default=3)
        else:
            params["width"] = Categorical(WIDTHS, default=64)
            params["cells"] = Int(1, 3, default=2)
        train = training_space(problem)
        if image:  # convolutions: fewer, larger batches cost less time per epoch on a CPU
            train["batch_size"] = Categorical(train["batch_size"].choices, default=64)
        return SearchSpace({**params, **train})

    @staticmethod
    def edges(genotype: Mapping[str, Any], kind: str) -> list[list[tuple[int, str]]]:
        out, i = [], 0
        while f"{kind}.n{i}.op0" in genotype:
            out.append([(int(genotype[f"{kind}.n{i}.in{j}"]), str(genotype[f"{kind}.n{i}.op{j}"])) for j in (0, 1)])
            i += 1
        if not out:
            raise ValueError(f"the genotype has no {kind} cell (no {kind}.n0.op0)")
        return out

    def build(self, genotype: Mapping[str, Any], problem: Problem) -> Any:
        image = problem.image_shape is not None
        edges = {kind: self.edges(genotype, kind) for kind in self.kinds(problem)}
        return CellNetwork(problem, int(genotype["channels" if image else "width"]), int(genotype["cells"]),
                           edges, ops=self.ops(problem))

    # --- the continuous relaxation (DARTS) ---------------------------------------------------------------------
    def supernet(self, problem: Problem, *, channels: int | None = None, cells: int | None = None,
                 nodes: int | None = None) -> SuperNet:
        """The one-shot network: every op on every edge. Defaults: the space's default depth at half its width
        (as DARTS, a smaller network than the one it evaluates: the supernet runs every op)."""
        default = self.space(problem).default()
        size = int(channels or max(8, default["channels" if problem.image_shape is not None else "width"] // 2))
        return SuperNet(problem, size, int(cells or default["cells"]), int(nodes or self.nodes), self.ops(problem))

    def discretize(self, arch: Any, problem: Problem, *, max_identity: int | None = None,
                   **fixed: Any) -> Config:
        """A genotype from ``arch`` (a ``SuperNet`` or ``{kind: alpha array}``): per node the two incoming edges
        whose strongest non-zero op weighs most, each with that op (as DARTS). ``max_identity`` caps identity
        edges per cell (the rest take their best other op), against DARTS' drift to parameter-free cells.
        ``fixed`` sets other parameters (``channels``, ``lr``, ...); the rest are the space's defaults."""
        alphas = arch.alphas() if hasattr(arch, "alphas") else arch
        ops, space = self.ops(problem), self.space(problem)
        zero = ops.index("zero")
        values: dict[str, Any] = {}
        for kind in self.kinds(problem):
            a = np.asarray(alphas[kind], dtype=np.float64)
            w = np.exp(a - a.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            w[:, zero] = -np.inf
            nodes, start, chosen = 0, 0, []
            while start < len(w):
                n_in = 2 + nodes
                rows = w[start:start + n_in]
                top = sorted(sorted(range(n_in), key=lambda j: -rows[j].max())[:2])
                chosen += [(nodes, slot, j, start + j) for slot, j in enumerate(top)]
                start, nodes = start + n_in, nodes + 1
            picks = {(i, slot): int(np.argmax(w[row])) for i, slot, _, row in chosen}
            if max_identity is not None and "identity" in ops:
                ident = ops.index("identity")
                same = sorted((w[row, ident], i, slot, row) for i, slot, _, row in chosen if picks[(i, slot)] == ident)
                for _, i, slot, row in same[:max(0, len(same) - int(max_identity))]:
                    others = w[row].copy()
                    others[ident] = -np.inf
                    picks[(i, slot)] = int(np.argmax(others))
            for i, slot, j, _ in chosen:
                values[f"{kind}.n{i}.in{slot}"] = j
                values[f"{kind}.n{i}.op{slot}"] = ops[picks[(i, slot)]]
        if nodes != self.nodes:
            space = CellSpace(nodes).space(problem)
        return space.validate(space.complete({**values, **fixed}))


__all__ = ["CellSpace", "CellNetwork", "SuperNet", "IMAGE_OPS", "DENSE_OPS"]
