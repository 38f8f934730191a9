"""One training loop for every tabular network: AdamW with cosine decay, mini-batches, early stopping on a
validation set with the best weights restored, a wall-clock deadline, a thread cap and a CUDA-or-CPU device.

Shared by ``forgeml.nn.estimator`` (the MLP family) and the NAS strategies, so both behave the same under budgets.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LOSSES = ("cross_entropy", "mse")
# Threads for training on the CPU. forgeml's processes wait passively in OpenMP (OMP_WAIT_POLICY=PASSIVE, so that
# two processes can share two cores), and then each of torch's many small operations pays to wake a second thread:
# measured on 2 cores, one thread trained forgeml's networks 2-4x faster than two (an MLP 2x128 at batch 256:
# 0.64 s against 1.29 s; NAS cells on digits: 36 epochs in 30 s against 13), and two were 10 % faster only for a
# 3x512 MLP at batch 1024. More threads are used only where a caller asks for them explicitly.
TORCH_CPU_THREADS = 1
SCHEDULES = ("cosine", "constant")


@dataclass
class TrainResult:
    """What a training run produced: the weights to keep and why it ended.

    ``stopped`` is ``"epochs"`` (ran them all), ``"early_stopping"`` (validation loss stopped improving) or
    ``"deadline"``. ``history`` holds one validation loss per finished epoch (training loss without validation).
    """

    state_dict: dict[str, np.ndarray]
    epochs: int
    best_epoch: int
    stopped: str
    history: list[float] = field(default_factory=list)


def pick_device(device: str = "auto") -> str:
    """``"cuda"`` when asked for (or ``"auto"``) and available, else ``"cpu"``."""
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` and restore the previous value afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class shift_images:  # noqa: N801 (a picklable function object)
    """Augment flat image rows by moving each image up to ``max_shift`` pixels in each direction (the uncovered
    border takes ``fill``, the background): the usual augmentation for small images, which teaches a network
    that a digit one pixel to the left is the same digit."""

    def __init__(self, shape: tuple[int, int], fill: float, max_shift: int = 1) -> None:
        self.shape, self.fill, self.max_shift = (int(shape[0]), int(shape[1])), float(fill), int(max_shift)

    def __call__(self, x: Any, gen: Any) -> Any:
        import torch

        h, w = self.shape
        n, k = x.shape[0], self.max_shift
        img = x.reshape(n, -1, h, w)
        padded = torch.nn.functional.pad(img, (k, k, k, k), value=self.fill)
        dy = torch.randint(0, 2 * k + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * k + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
        out = padded[torch.arange(n)[:, None, None, None], torch.arange(img.shape[1])[None, :, None, None], rows, cols]
        return out.reshape(n, -1)


def state_to_numpy(module: Any) -> dict[str, np.ndarray]:
    """A module's weights as numpy arrays: picklable without torch tensors and independent of the device."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_numpy_state(module: Any, state: dict[str, np.ndarray]) -> Any:
    import torch

    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    return module


def predict_batches(module: Any, X: np.ndarray, *, batch_size: int = 8192, device: str = "cpu") -> np.ndarray:
    """The module's raw outputs on ``X`` (float32 array), computed without gradients in batches."""
    import torch

    module.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(X[i:i + batch_size], dtype=np.float32)).to(device)
            out.append(module(xb).float().cpu().numpy())
    n_out = module(torch.zeros(1, X.shape[1], device=device)).shape[1] if not out else out[0].shape[1]
    return np.concatenate(out) if out else np.zeros((0, n_out), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities from logits, shifted by the row maximum so large logits cannot overflow."""
    z = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


class _AdamW:
    """AdamW (decoupled weight decay) in plain tensor operations.

    ``torch.optim`` optimizers import ``torch._dynamo`` on their first step, which costs seconds in every fresh
    worker process; this short equivalent avoids that.
    """

    def __init__(self, params: list[Any], *, lr: float, weight_decay: float = 0.0, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        import torch

        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch

        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, math.sqrt(1 - b2 ** self.t)
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                g = p.grad
                if self.weight_decay:
                    p.mul_(1 - self.lr * self.weight_decay)
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.addcdiv_(m, v.sqrt().div_(c2).add_(self.eps), value=-self.lr / c1)


def train_module(module: Any, X: np.ndarray, y: np.ndarray, *, loss: str, lr: float = 1e-3,
                 weight_decay: float = 0.0, batch_size: int = 256, epochs: int = 50,
                 X_valid: np.ndarray | None = None, y_valid: np.ndarray | None = None, patience: int = 10,
                 seed: int = 0, deadline: float | None = None, n_threads: int = 1,
                 device: str = "cpu", score_initial: bool = False, schedule: str = "cosine",
                 augment: Any = None, rows: np.ndarray | None = None) -> TrainResult:
    """Train ``module`` in place and return its best weights.

    ``loss`` is ``"cross_entropy"`` (``y`` integer codes, module outputs logits) or ``"mse"`` (``y`` float, one
    output). With a validation set, training stops after ``patience`` epochs without improvement and the best
    epoch's weights are returned; it always stops once ``deadline`` (epoch seconds) passes, checked every batch.
    ``score_initial`` (for a module that continues trained weights): the starting weights are a candidate too, so
    training on never returns worse weights, on the validation set, than it started from. ``schedule`` is
    ``"cosine"`` (decay to 1% of ``lr`` over ``epochs``) or ``"constant"``. ``augment(batch, generator)``, if
    given, transforms each training batch (never the validation rows), e.g. ``shift_images``. ``rows``: the rows
    of ``X`` to train on (``y`` has one value per such row), so a caller need not copy them out of ``X``.
    """
    import torch

    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
    with torch_threads(n_threads):
        torch.manual_seed(seed)
        module.to(device)
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        rows_t = None if rows is None else torch.from_numpy(np.asarray(rows, dtype=np.int64))
        n = len(Xt) if rows_t is None else len(rows_t)
        yt = torch.from_numpy(np.asarray(y, dtype=np.int64 if loss == "cross_entropy" else np.float32))
        has_valid = X_valid is not None and y_valid is not None and len(X_valid) > 0
        if has_valid:
            Xv = np.ascontiguousarray(X_valid, dtype=np.float32)
            yv = torch.from_numpy(np.asarray(y_valid, dtype=np.int64 if loss == "cross_entropy" else np.float32))
        criterion = torch.nn.CrossEntropyLoss() if loss == "cross_entropy" else torch.nn.MSELoss()

        def loss_of(out: Any, target: Any) -> Any:
            return criterion(out, target) if loss == "cross_entropy" else criterion(out.reshape(-1), target)

        epochs = max(1, int(epochs))
        batch_size = max(1, min(int(batch_size), n))
        opt = _AdamW(list(module.parameters()), lr=lr, weight_decay=weight_decay)
        gen = torch.Generator().manual_seed(seed)
        best, best_epoch, best_state = math.inf, 0, state_to_numpy(module)
        initial_best = False
        if has_valid and score_initial:
            with torch.no_grad():
                start = float(loss_of(torch.from_numpy(predict_batches(module, Xv, device=device)).to(yv.device), yv))
            if math.isfinite(start):
                best, initial_best = start, True
        history: list[float] = []
        stopped, completed, steps = "epochs", 0, 0
        for epoch in range(1, epochs + 1):
            module.train()
            order = torch.randperm(n, generator=gen)
            total, seen = 0.0, 0
            for i in range(0, n, batch_size):
                if steps and deadline is not None and time.time() >= deadline:  # always take one step
                    stopped = "deadline"
                    break
                idx = order[i:i + batch_size]
                if len(idx) == 1 and n > 1:  # a lone last row: batch norm cannot train on one row
                    continue
                xb, yb = Xt[idx if rows_t is None else rows_t[idx]], yt[idx].to(device)
                xb = (augment(xb, gen) if augment is not None else xb).to(device)
                opt.zero_grad()
                batch_loss = loss_of(module(xb), yb)
                batch_loss.backward()
                opt.step()
                total += float(batch_loss.detach()) * len(idx)
                seen += len(idx)
                steps += 1
            if seen == 0:  # the deadline passed before this epoch trained anything
                break
            completed = epoch
            if schedule == "cosine":
                opt.lr = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * epoch / epochs)))
            if has_valid:
                with torch.no_grad():
                    pred = torch.from_numpy(predict_batches(module, Xv, device=device))
                    value = float(loss_of(pred.to(yv.device), yv))
            else:
                value = total / seen
            history.append(value)
            if math.isfinite(value) and value < best - 1e-7:
                best, best_epoch, best_state = value, epoch, state_to_numpy(module)
                initial_best = False
            if stopped == "deadline":
                break
            if has_valid and epoch - best_epoch >= patience:
                stopped = "early_stopping"
                break
        if not has_valid or (best_epoch == 0 and not initial_best):  # nothing to select on: keep the last weights
            best_state, best_epoch = state_to_numpy(module), completed
        module.to("cpu")
        load_numpy_state(module, best_state)
        return TrainResult(state_dict=best_state, epochs=completed, best_epoch=best_epoch, stopped=stopped,
                           history=history)
