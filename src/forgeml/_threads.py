"""How many threads one prediction may use in the process that makes it.

Models are fitted on one thread each (the search runs one trial per core), but a fitted model predicts in the
user's process, where the cores are free: LightGBM and torch on 10,000 rows took 16.1 and 17.6 ms on one thread,
9.6 and 11.2 ms on two (2 cores). Small batches stay on one thread: waking a second costs more than it saves.
"""
from __future__ import annotations

import os
from typing import Any

#: Rows per extra thread: 10,000 rows use up to 5 threads, 1,999 rows one.
ROWS_PER_THREAD = 2_000


def available_cores() -> int:
    """Cores this process may run on, capped by ``OMP_NUM_THREADS`` when set (forgeml's workers set it to their
    share; a user may set it to keep forgeml to fewer cores)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    cap = os.environ.get("OMP_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) > 0:
        cores = min(cores, int(cap))
    return max(1, cores)


def predict_threads(n_rows: int) -> int:
    """Threads for predicting ``n_rows`` rows here: one per ``ROWS_PER_THREAD`` rows, at most the cores."""
    wanted = int(n_rows) // ROWS_PER_THREAD
    if wanted < 2:  # the one-row path asks nothing of the system
        return 1
    return max(1, min(available_cores(), wanted))


def in_row_blocks(call: Any, X: Any, threads: int) -> Any:
    """``call`` on ``threads`` contiguous blocks of ``X``'s rows at once, joined in order: for calls that work
    out each row on its own (so a row's result does not depend on the block it is in) and release the GIL.

    Each block runs under the caller's scikit-learn configuration (it is kept per thread: ``assume_finite`` and
    the like would not reach a new thread), and the caller's warning filters are put back afterwards
    (scikit-learn's input check changes them for a moment in each thread, which Python does not make safe
    across threads)."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import sklearn

    config = sklearn.get_config()

    def run(block: Any) -> Any:
        with sklearn.config_context(**config):
            return call(block)

    bounds = np.linspace(0, X.shape[0], threads + 1).astype(int)
    blocks = [X.iloc[a:b] if hasattr(X, "iloc") else X[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    with warnings.catch_warnings(), ThreadPoolExecutor(threads) as pool:
        return np.concatenate(list(pool.map(run, blocks)))


__all__ = ["ROWS_PER_THREAD", "available_cores", "in_row_blocks", "predict_threads"]
