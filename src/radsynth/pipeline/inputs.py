"""Content digests of a step's input folders (e.g. the ``source:`` radiographs), for its cache key.

A folder's digest covers every file the stage reads (the files :func:`radsynth.data.ingest.
find_files` lists): relative name, size in bytes and sha256 of the content, so adding, removing,
renaming or changing a radiograph re-runs ingest, and touching one without changing it does not.
Hashing thousands of radiographs on every ``radsynth run`` would be slow, so each file's sha256
is cached in a small JSON file in the run folder, keyed by (path, size, mtime_ns): a file whose
size and modification time are unchanged is not read again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from radsynth.errors import RadsynthError
from radsynth.stage import atomic_write_text, sha256_file


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only costs re-hashing
    return data if isinstance(data, dict) else {}


def _file_hash(path: Path, cached: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """sha256 of a file, from ``cached`` when its size and mtime_ns still match."""
    st = path.stat()
    entry = cached.get(str(path))
    if (
        isinstance(entry, dict)
        and entry.get("size") == st.st_size
        and entry.get("mtime_ns") == st.st_mtime_ns
        and isinstance(entry.get("sha256"), str)
    ):
        return entry["sha256"], entry
    digest = sha256_file(path)
    return digest, {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}


def folder_digest(root: Path, cache_file: Path) -> str:
    """sha256 over (relative name, size, content sha256) of every file ingest reads below ``root``.

    Args:
        root: the input folder.
        cache_file: JSON cache of per-file hashes (created or updated; entries for other roots
            are kept).

    Raises:
        RadsynthError: when ``root`` is not a folder.
    """
    from radsynth.data.ingest import find_files

    if not root.is_dir():
        raise RadsynthError(f"source folder not found: {root}")
    cache = _load_cache(cache_file)
    key = str(root.resolve())
    cached = cache.get(key) if isinstance(cache.get(key), dict) else {}
    fresh: dict[str, Any] = {}
    digest = hashlib.sha256()
    for path in find_files(root):
        full = path.resolve()
        sha, entry = _file_hash(full, cached)
        fresh[str(full)] = entry
        rel = path.relative_to(root).as_posix()
        digest.update(f"{rel}\0{entry['size']}\0{sha}\n".encode())
    if fresh != cached:
        cache[key] = fresh  # files no longer in the folder drop out
        atomic_write_text(cache_file, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return digest.hexdigest()
