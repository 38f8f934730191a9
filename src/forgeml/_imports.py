"""Import a library from a clean stack.

Some libraries keep the ``ImportError`` of each optional dependency they probe at import (Optuna keeps one for
redis, among others, to raise it if that part is used). The error's traceback holds every frame that was on the
stack when the library was first imported, with their local variables: imported lazily inside a fit, Optuna kept
the run's prepared copy of the training rows (135 MB on 750,000 rows) and everything else those frames held, for
the life of the process. Imported from a thread of its own, the traceback holds only that thread's frames.
"""
from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType


def import_clean(name: str) -> ModuleType:
    """``importlib.import_module(name)``, run in a short-lived thread the first time (see the module docstring)."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    box: dict[str, object] = {}

    def load() -> None:
        try:
            box["module"] = importlib.import_module(name)
        except BaseException as exc:  # noqa: B036 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=load, name=f"forgeml-import-{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["module"]  # type: ignore[return-value]
