"""A fit's progress, shown where its output goes: a live bar on a terminal, an updating bar in a notebook, plain
lines in a file or a pipe.

A run is long and silent otherwise: in a notebook or a log file the user cannot tell a slow trial from a hang. So the
same state (trials done and failed, best score and pipeline, time left, the current step) is drawn three ways:

- terminal (stdout is a tty): a rich live bar, redrawn four times a second;
- notebook (an IPython kernel): an HTML ``<progress>`` bar updated in place through a display handle, so no widget
  library is needed;
- anything else (a file, a pipe, a subprocess): plain lines on stderr, one per new best at most every
  ``LINE_EVERY_S`` seconds, a heartbeat every ``HEARTBEAT_S`` seconds, one per step (search, ensemble and refit) and
  one at the end. ``verbose>=2`` prints every new best and a heartbeat every 10 s.

``verbose=0`` is silent. The bar's fill is the share of the time budget used, or of ``max_trials`` without one.
"""
from __future__ import annotations

import html
import sys
import time
from typing import Any

LINE_EVERY_S = 5.0
HEARTBEAT_S = 30.0


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # an IPython without a running shell
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class Progress:
    """Progress of one fit (``verbose``: 0 silent, 1 default, 2 more lines); see the module docstring."""

    def __init__(self, verbose: int, total_s: float | None, metric: str, max_trials: int | None = None) -> None:
        self.verbose = verbose
        self.total_s = total_s
        self.max_trials = max_trials
        self.metric = metric
        self.start = time.time()
        self.done = self.failed = 0
        self.best: float | None = None
        self.best_desc = ""
        self.step = "searching"
        self.live: Any = None
        self.handle: Any = None  # the notebook's display handle
        self._last_line = self._last_draw = 0.0
        self._last_best_line = float("-inf")  # the first best is always shown, however fast it comes
        self.mode = ("off" if verbose <= 0 else "terminal" if sys.stdout.isatty()
                     else "notebook" if _in_notebook() else "lines")

    def __enter__(self) -> Progress:
        if self.mode == "terminal":
            from rich.live import Live

            self.live = Live(get_renderable=self._render, refresh_per_second=4, transient=False)
            self.live.__enter__()
        elif self.mode == "notebook":
            from IPython.display import HTML, display

            self.handle = display(HTML(self._html()), display_id=True)
        elif self.mode == "lines":
            budget = f"a {self.total_s:g} s budget" if self.total_s else f"{self.max_trials} trials"
            self._line(f"forgeml: fitting with {budget}, metric {self.metric}")
        return self

    def __exit__(self, *exc: object) -> None:
        if exc and exc[0] is not None:
            self.step = "interrupted" if issubclass(exc[0], KeyboardInterrupt) else "failed"  # type: ignore[arg-type]
        elif self.step != "done":
            self.step = "done"
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None
        elif self.handle is not None:
            self.handle.update(self._html_obj())
        elif self.mode == "lines":
            self._line(self._text())

    # ------------------------------------------------------------------------------------------------- state
    def trial(self, ok: bool, score: float | None, is_best: bool, desc: str) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if is_best:
            self.best, self.best_desc = score, desc
        now = time.time()
        if self.handle is not None and now - self._last_draw >= 0.25:
            self._last_draw = now
            self.handle.update(self._html_obj())
        elif self.mode == "lines":
            every, beat = (0.0, 10.0) if self.verbose >= 2 else (LINE_EVERY_S, HEARTBEAT_S)
            if is_best and now - self._last_best_line >= every:
                self._last_best_line = now
                self._line(self._text())
            elif now - self._last_line >= beat:
                self._line(self._text())

    def stage(self, step: str) -> None:
        """A long step begins (ensemble choice and refits): shown in the bar, and as a line in a file."""
        self.step = step
        if self.handle is not None:
            self.handle.update(self._html_obj())
        elif self.mode == "lines":
            self._line(self._text())

    def message(self, text: str) -> None:
        """A note for the user (search summary, repeated failures), outside the bar."""
        if self.mode == "off":
            return
        if self.live is not None:
            self.live.console.print(text)
        else:
            print(text, file=sys.stderr, flush=True)

    # ------------------------------------------------------------------------------------------------ drawing
    def fraction(self) -> float | None:
        if self.step == "done":
            return 1.0
        if self.total_s:
            return min(1.0, (time.time() - self.start) / self.total_s)
        if self.max_trials:
            return min(1.0, self.done / self.max_trials)
        return None

    def _text(self) -> str:
        el = time.time() - self.start
        left = f", {max(0.0, self.total_s - el):.0f}s left" if self.total_s and self.step != "done" else ""
        best = f"{self.best:.5g}" if self.best is not None else "-"
        where = f" [{self.best_desc}]" if self.best_desc else ""
        return (f"forgeml: {self.step}: {self.done} trials ({self.failed} failed), best {self.metric} {best}{where}, "
                f"{el:.0f}s elapsed{left}")

    def _line(self, text: str) -> None:
        self._last_line = time.time()
        print(text, file=sys.stderr, flush=True)

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        frac = self.fraction()
        grid = Table.grid(padding=(0, 1))
        grid.add_row(ProgressBar(total=1000, completed=int(1000 * (frac if frac is not None else 0.0)), width=24,
                                 pulse=frac is None), Text(self._text().removeprefix("forgeml: ")))
        return grid

    def _html(self) -> str:
        frac = self.fraction()
        bar = f'<progress value="{frac or 0:.3f}" max="1" style="width:16em"></progress>' if frac is not None \
            else "<progress style='width:16em'></progress>"
        return f'<div class="forgeml-progress">{bar} <code>{html.escape(self._text())}</code></div>'

    def _html_obj(self) -> Any:
        from IPython.display import HTML

        return HTML(self._html())
