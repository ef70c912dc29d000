"""Writing a release folder: into a hidden staging folder next to it, renamed into place only
when every check has passed, so a refused or interrupted release leaves nothing behind.

Layout::

    OUT/images/<id>.png        the released images (what imagefolder loads)
    OUT/metadata.csv           one row per image, file_name first
    OUT/provenance.jsonl       each image's full sampling sidecar, keyed by id
    OUT/table_s1.csv           images generated, excluded and kept per checkpoint
    OUT/README.md              the dataset card
    OUT/shards/shard-NNNNNN.tar  with --shard-size: WebDataset shards
    OUT/dicom/<id>.dcm         with --format dicom: DICOM Secondary Capture
    OUT/config.json, OUT/manifest.json   how the release was made (paths relative to the run)
    OUT/SHA256SUMS             every file above, for sha256sum -c
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.release.formats import ShardWriter
from radsynth.release.manifest import sha256sums
from radsynth.stage import sha256_file


def check_out(out: Path) -> None:
    """Refuse an output path that exists and is not an empty folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RadsynthError(f"output folder {out} already holds files; choose a new folder")


class ReleaseWriter:
    """Collects a release's files in a staging folder and records each file's sha256 once."""

    def __init__(self, out: Path, shard_size: int = 0) -> None:
        check_out(out)
        self.out = out
        self._made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
        out.parent.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        self.sums: dict[str, str] = {}
        self.shards = ShardWriter(self.root / "shards", shard_size) if shard_size else None

    def write(self, rel: str, data: bytes, digest: str | None = None) -> str:
        """Write one file (``rel`` relative to the release); returns its sha256."""
        if rel in self.sums:
            raise RadsynthError(f"two release files would be named {rel}")
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.sums[rel] = digest or hashlib.sha256(data).hexdigest()
        return self.sums[rel]

    def shard(self, key: str, members: dict[str, bytes]) -> None:
        """Add one sample to the WebDataset shards (when sharding)."""
        if self.shards is not None:
            self.shards.add(key, members)

    def commit(self) -> None:
        """Close the shards, write SHA256SUMS, and rename the staging folder to ``out``."""
        if self.shards is not None:
            self.shards.close()
            for path in self.shards.paths:
                self.sums[path.relative_to(self.root).as_posix()] = sha256_file(path)
        (self.root / "SHA256SUMS").write_text(sha256sums(self.sums))
        check_out(self.out)  # nothing appeared there meanwhile
        if self.out.exists():
            self.out.rmdir()
        os.replace(self.root, self.out)

    def abort(self) -> None:
        """Remove everything written, including parent folders this writer created."""
        if self.shards is not None:
            self.shards.close()
        shutil.rmtree(self.root, ignore_errors=True)
        for folder in self._made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
