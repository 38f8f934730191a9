"""Live progress on a terminal (trials done, best score, time left); quiet otherwise."""
from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """``verbose=0``: silent. ``verbose>=1``: a live line on a terminal; plain milestone lines when stdout is
    not a terminal only with ``verbose>=2``."""

    def __init__(self, verbose: int, total_s: float | None, metric: str) -> None:
        self.verbose = verbose
        self.total_s = total_s
        self.metric = metric
        self.live: Any = None
        self.start = time.time()
        self.done = self.failed = 0
        self.best: float | None = None
        self.best_desc = ""
        self._last_print = 0.0
        self.tty = sys.stdout.isatty()

    def __enter__(self) -> Progress:
        if self.verbose >= 1 and self.tty:
            from rich.live import Live

            self.live = Live(self._render(), refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(None, None, None)
            self.live = None

    def _text(self) -> str:
        el = time.time() - self.start
        left = f", {max(0.0, self.total_s - el):.0f}s left" if self.total_s else ""
        best = f"{self.best:.5g}" if self.best is not None else "-"
        return (f"forgeml: {self.done} trials ({self.failed} failed), best {self.metric} {best}"
                f" [{self.best_desc}], {el:.0f}s elapsed{left}")

    def _render(self) -> Any:
        from rich.text import Text

        return Text(self._text())

    def trial(self, ok: bool, score: float | None, is_best: bool, desc: str) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if is_best:
            self.best, self.best_desc = score, desc
        if self.live is not None:
            self.live.update(self._render())
        elif self.verbose >= 2 and (is_best or time.time() - self._last_print > 10):
            self._last_print = time.time()
            print(self._text(), flush=True)

    def message(self, text: str) -> None:
        if self.verbose <= 0:
            return
        if self.live is not None:
            self.live.console.print(text)
        elif self.verbose >= 1:
            print(text, file=sys.stderr, flush=True)
