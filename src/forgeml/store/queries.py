"""Read-only views of a run directory's store, for ``forgeml.trials(DIR)``, the CLI and reports.

These open the store without creating it (a wrong path is a clear ``StoreError``), read, and close.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from forgeml.store.sqlite import Store

if TYPE_CHECKING:
    import pandas as pd


def trials_frame(path: str | Path, run_id: str | None = None, *, all_runs: bool = False) -> pd.DataFrame:
    """The trials of run ``run_id`` (default: the latest run; every run with ``all_runs=True``) at ``path``.

    One row per trial in trial-id order, with ``config`` as a dict (see ``Store.trials`` for the columns).
    """
    with Store.open(path, create=False) as store:
        if all_runs:
            return store.trials()
        if run_id is None:
            run_id = store.latest_run()
            if run_id is None:
                return store.trials("")  # no run yet: an empty frame with the usual columns
        else:
            store.get_run(run_id)  # an unknown run id is an error, not an empty table
        return store.trials(run_id)


def runs_frame(path: str | Path) -> pd.DataFrame:
    """One row per run in the store at ``path``, newest first; ``created_at`` and ``ended_at`` are UTC
    timestamps to the second (the store keeps epoch seconds)."""
    import pandas as pd

    with Store.open(path, create=False) as store:
        frame = store.runs()
    for col in ("created_at", "ended_at"):
        if col in frame:
            frame[col] = pd.to_datetime(pd.to_numeric(frame[col], errors="coerce"), unit="s", utc=True).dt.floor("s")
    return frame
