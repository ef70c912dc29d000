"""One ``radsynth run`` at a time per run folder: a lock file created with ``O_EXCL``.

The lock (``RUN/pipeline.lock``, :attr:`radsynth.layout.RunLayout.lock`) holds the owner's pid
and host as JSON. A second run on the same folder stops with a one-line error naming them. A
lock left by a process that died (same host, pid no longer running) is taken over with a
warning; a lock from another host is never taken over, since its pid cannot be checked here.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from radsynth.errors import RadsynthError

log = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _holder(path: Path) -> tuple[int | None, str]:
    """(pid, host) written in a lock file; (None, "") when it is empty or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["pid"]), str(data["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, ""


def _try_create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"pid": os.getpid(), "host": socket.gethostname()}, fh)
    return True


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold the lock file ``path`` for the duration of the ``with`` block.

    Raises:
        RadsynthError: another live process holds it (or a process on another host).
    """
    if not _try_create(path):
        pid, host = _holder(path)
        here = socket.gethostname()
        if pid is None or host != here or _alive(pid):
            who = f"process {pid} on {host}" if pid is not None else "another process"
            raise RadsynthError(
                f"{path.parent} is in use by another radsynth run ({who}); wait for it to "
                f"finish, or delete {path} if that process is gone"
            )
        log.warning("taking over the lock %s of process %d, which is no longer running", path, pid)
        path.unlink(missing_ok=True)
        if not _try_create(path):  # another process took it over first
            raise RadsynthError(f"{path.parent} is in use by another radsynth run")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
