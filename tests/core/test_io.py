"""``atomic_write``: the target holds its old content or the new one, never part of either."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import forgeml
from forgeml._io import atomic_write


class Halfway(RuntimeError):
    pass


def write_half_then_raise(fh):
    fh.write(b"new-" * 1000)
    raise Halfway("disk trouble")


def test_a_write_that_raises_halfway_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.pkl"
    target.write_bytes(b"old content")
    with pytest.raises(Halfway):
        atomic_write(target, write_half_then_raise)
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl"]


def test_a_first_write_that_raises_leaves_no_file(tmp_path):
    with pytest.raises(Halfway):
        atomic_write(tmp_path / "oof.npy", write_half_then_raise)
    assert list(tmp_path.iterdir()) == []


def test_a_write_replaces_the_content_whole(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"a much longer old content than the new one")
    assert atomic_write(target, b"new") == target
    assert target.read_bytes() == b"new"
    atomic_write(target, lambda fh: fh.write(b"from a function"))
    assert target.read_bytes() == b"from a function"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "manifest.json"
    target.write_bytes(b"old")
    code = ("import os, signal, sys\nfrom forgeml._io import atomic_write\n"
            "def write(fh):\n    fh.write(b'partial'); fh.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
            "atomic_write(sys.argv[1], write)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], env={**os.environ}, timeout=60)
    assert proc.returncode == -9
    assert target.read_bytes() == b"old"


def test_new_files_follow_the_umask_like_open_does(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "f", b"x")
        (tmp_path / "g").write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == (tmp_path / "g").stat().st_mode & 0o777 == 0o644


def test_files_are_moved_into_place_in_one_module_only():
    """Evaluator, artifact store and model saving share ``atomic_write`` rather than keeping copies of it."""
    root = Path(forgeml.__file__).resolve().parent
    users = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "rename") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                users.append(str(path.relative_to(root)))
    assert sorted(set(users)) == ["_io.py"]
