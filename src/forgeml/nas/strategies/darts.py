"""DARTS (Liu et al., 2019), first order: search the cell by gradient descent instead of training candidates.

The space's supernet puts every operation on every edge, mixed by ``softmax(alpha)``. The search split is cut in
two halves: on one the network weights take AdamW steps, on the other the architecture weights ``alpha`` take
Adam steps (lr 3e-3, betas (0.5, 0.999), L2 1e-3, as in the paper), alternating batch by batch while
``search_share`` of the remaining time lasts. The learned alphas are then discretised (per node the two strongest
edges, each with its strongest non-zero op) and that genotype is trained from scratch at full fidelity; time left
over trains alternative discretisations (fewer skip connections, against DARTS' known drift to parameter-free
cells; a wider network), then the same cell from other initial weights; the best on validation is kept.
``alpha_history`` keeps the alphas after every epoch, the first entry the initial ones.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from forgeml.errors import ConfigError
from forgeml.nas.base import NASStrategy


class DARTS(NASStrategy):
    """``search_share``: the part of the remaining time the supernet trains (the rest retrains the cells it
    found). ``channels``: the supernet's width (``None``: the space's default network's). ``max_epochs`` and
    ``max_retrains`` end the supernet's training and the retraining of found cells on a count as well as on the
    clock (``None``: the clock alone), so a run can be reproduced on any machine."""

    name = "darts"
    needs_supernet = True

    def __init__(self, search_share: float = 0.5, weight_lr: float = 3e-3, weight_decay: float = 3e-4,
                 arch_lr: float = 3e-3, arch_weight_decay: float = 1e-3, batch_size: int = 64,
                 channels: int | None = None, grad_clip: float = 5.0, max_epochs: int | None = None,
                 max_retrains: int | None = None) -> None:
        self.search_share = search_share
        self.weight_lr = weight_lr
        self.weight_decay = weight_decay
        self.arch_lr = arch_lr
        self.arch_weight_decay = arch_weight_decay
        self.batch_size = batch_size
        self.channels = channels
        self.grad_clip = grad_clip
        self.max_epochs = max_epochs
        self.max_retrains = max_retrains

    def search(self, ctx: Any) -> None:
        import torch

        for name in ("max_epochs", "max_retrains"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"DARTS {name} must be a whole number of at least 1 or None, got {value!r}")

        from forgeml.nn.trainer import torch_threads

        end = time.time() + float(self.search_share) * max(0.0, ctx.time_left())
        self.alpha_history: list[dict[str, np.ndarray]] = []
        self.epochs_ = self.steps_ = 0
        with torch_threads(ctx.n_threads):
            torch.manual_seed(ctx.seed)
            opts = {"channels": int(self.channels)} if self.channels else {}
            net = ctx.nas_space.supernet(ctx.problem, **opts)
            self.alpha_history.append(net.alphas())
            self._train_supernet(ctx, net, end)
        alphas = next((a for a in reversed(self.alpha_history) if all(np.isfinite(v).all() for v in a.values())),
                      self.alpha_history[0])
        self.alphas_ = alphas
        tried: list[float] = []
        for genotype, source in self._genotypes(ctx, alphas):
            if self.max_retrains is not None and len(tried) >= int(self.max_retrains):
                break
            cost = 2.0 if source.endswith("wider") else 1.1  # a wider net's convolutions cost about twice as much
            if tried and ctx.time_left() < cost * max(tried):
                if source.endswith("wider"):
                    continue  # the cheaper retrainings after it may still fit
                break
            cand = ctx.evaluate(genotype, ctx.high_epochs, source=source, keep=True)
            if cand.ok:
                tried.append(cand.seconds)
            elif source.endswith("again"):
                break

    def _genotypes(self, ctx: Any, alphas: dict[str, np.ndarray]) -> Iterator[tuple[dict, str]]:
        """The DARTS cell; distinct alternatives (at most one skip connection per cell; wider); then the DARTS
        cell again from other initial weights, for as long as time lasts. One training of a small network varies
        by a point or two of validation accuracy with its initial weights; DARTS' authors, too, pick the cell by
        validation accuracy after training from scratch (Liu et al., 2019, section 3.3)."""
        space, problem = ctx.nas_space, ctx.problem
        first = dict(space.discretize(alphas, problem))
        yield first, "darts"
        fewer_skips = dict(space.discretize(alphas, problem, max_identity=1))
        if fewer_skips != first:
            yield fewer_skips, "darts:fewer_skips"
        size = "channels" if "channels" in first else "width" if "width" in first else None
        if size is not None and hasattr(ctx.space[size], "choices"):
            wider = [c for c in ctx.space[size].choices if c > first[size]]
            if wider:
                yield dict(space.discretize(alphas, problem, **{size: wider[0]})), "darts:wider"
        while True:
            yield first, "darts:again"

    def _train_supernet(self, ctx: Any, net: Any, end: float) -> None:
        """Alternate architecture and weight steps until ``end``; alphas recorded after every epoch."""
        import torch

        from forgeml.nn.trainer import _AdamW

        classify = ctx.problem.loss == "cross_entropy"
        X = torch.from_numpy(np.ascontiguousarray(ctx.X_train, dtype=np.float32))
        y = torch.from_numpy(np.asarray(ctx.y_train, dtype=np.int64 if classify else np.float32))
        order = torch.from_numpy(ctx.rng.permutation(len(X)))
        half = len(X) // 2
        if half < 2:
            return
        (Xw, yw), (Xa, ya) = (X[order[:half]], y[order[:half]]), (X[order[half:2 * half]], y[order[half:2 * half]])

        def loss_of(out: Any, target: Any) -> Any:
            if classify:
                return torch.nn.functional.cross_entropy(out, target)
            return torch.nn.functional.mse_loss(out.reshape(-1), target)

        arch, weights = net.arch_parameters(), net.weight_parameters()
        w_opt = _AdamW(weights, lr=self.weight_lr, weight_decay=self.weight_decay)
        a_opt = _AdamW(arch, lr=self.arch_lr, betas=(0.5, 0.999))  # L2 goes into the loss: Adam's coupled decay
        gen = torch.Generator().manual_seed(ctx.seed)
        bs = max(2, min(int(self.batch_size), half))
        steps = max(1, half // bs)
        while time.time() < end and (self.max_epochs is None or self.epochs_ < int(self.max_epochs)):
            net.train()
            pw, pa = torch.randperm(half, generator=gen), torch.randperm(half, generator=gen)
            for s in range(steps):
                if time.time() >= end:
                    break
                ia, iw = pa[s * bs:(s + 1) * bs], pw[s * bs:(s + 1) * bs]
                a_opt.zero_grad()
                loss = loss_of(net(Xa[ia]), ya[ia]) + 0.5 * self.arch_weight_decay * sum((a * a).sum() for a in arch)
                loss.backward(inputs=arch)
                a_opt.step()
                w_opt.zero_grad()
                loss = loss_of(net(Xw[iw]), yw[iw])
                if not math.isfinite(float(loss.detach())):
                    return  # diverged: the last recorded (finite) alphas stand
                loss.backward(inputs=weights)
                torch.nn.utils.clip_grad_norm_(weights, self.grad_clip)
                w_opt.step()
                self.steps_ += 1
            else:
                self.epochs_ += 1
            self.alpha_history.append(net.alphas())


__all__ = ["DARTS"]
