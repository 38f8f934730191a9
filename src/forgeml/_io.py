"""One way to write a file so that a crash or an error never leaves half of it (stdlib only).

The content goes to a temporary file in the target's directory (same file system, so the final move is
atomic), is flushed and fsynced, then moved over the target with ``os.replace``. Whatever happens, the target
holds either its old content or the new one, and the temporary file is removed when the write fails. Used by
the evaluator (out-of-fold predictions, trained states), the artifact store and model saving.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: str | os.PathLike[str], content: bytes | Callable[[IO[bytes]], object]) -> Path:
    """Replace ``path`` with ``content`` (bytes, or a function that writes to a binary file) atomically.

    The parent directory must exist. Any exception from ``content`` or the disk propagates unchanged after the
    temporary file is removed; the target is then as it was before the call.
    """
    target = Path(path)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(content, (bytes, bytearray, memoryview)):
                fh.write(content)
            else:
                content(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_dir(target.parent)
    return target


def _sync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
