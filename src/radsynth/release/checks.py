"""What a release refuses: metadata inside an image, and source names or patient ids anywhere.

Pixel copies of training images are found with :mod:`radsynth.data.leaks` (the shared check);
this module adds the two checks that are the release's own:

- **metadata in an image**: a PNG may carry text (``tEXt``, ``zTXt``, ``iTXt``), EXIF
  (``eXIf``), a named colour profile (``iCCP``) or private chunks. Only the chunks needed to
  draw a grey image are allowed (PNG spec, ISO/IEC 15948:2004, sec. 11);
- **source names and patient ids**: every source file name, stem, path and patient id of the
  ingest manifest is a *sensitive token*; text written into the release is split into tokens
  (runs of letters, digits and ``_ . - /``) and a token, a path part or its stem that equals a
  sensitive token refuses the release. Matching whole tokens of at least ``min_chars``
  characters keeps short ids from firing on numbers that happen to contain them (seed 12 is not
  patient 12 of ``patient_0012``).

Refusals are collected over the whole release, so one message names every kind of problem.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath, PureWindowsPath

from radsynth.errors import RadsynthError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Chunks a grey or palette PNG needs to be drawn; anything else is refused as metadata.
PNG_ALLOWED_CHUNKS = frozenset(
    {"IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "cHRM", "sRGB", "sBIT", "pHYs", "bKGD"}
)
TOKEN_RE = re.compile(r"[A-Za-z0-9_.\-/\\]+")


def png_metadata_chunks(data: bytes) -> list[str]:
    """Types of the chunks in a PNG file's bytes that are not needed to draw it (e.g. tEXt).

    Raises:
        RadsynthError: the bytes are not a well-formed PNG chunk sequence.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise RadsynthError("not a PNG file")
    found, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        name = kind.decode("latin-1")
        if name not in PNG_ALLOWED_CHUNKS and name not in found:
            found.append(name)
        pos += 12 + length  # length, type, data, CRC
        if name == "IEND":
            break
    if pos > len(data):
        raise RadsynthError("truncated PNG file")
    return found


def _stems(name: str) -> Iterator[str]:
    yield name
    if "." in name.strip("."):
        yield name.split(".", 1)[0]
        yield name.rsplit(".", 1)[0]


def token_variants(token: str) -> set[str]:
    """A text token, its path parts and their stems, lower-cased (what is matched)."""
    token = token.strip(".").lower()
    out = {token}
    for part in re.split(r"[/\\]", token):
        part = part.strip(".")
        if part:
            out.update(_stems(part))
    return out


@dataclass(frozen=True)
class SensitiveTokens:
    """Source names, paths and patient ids that must not appear in a release."""

    tokens: frozenset[str]  # lower-cased
    min_chars: int  # shorter tokens are not matched

    @classmethod
    def build(
        cls, sources: Iterable[tuple[str, str]], extra: Iterable[str] = (), min_chars: int = 6
    ) -> SensitiveTokens:
        """From (source path relative to the source root, patient id) pairs and extra strings
        (the source root, reviewer ids): each path, file name, stem, and each id."""
        found: set[str] = set()
        for path, group in sources:
            p = PureWindowsPath(path) if "\\" in path else PurePosixPath(path)
            found.update({path, p.as_posix(), p.name, p.stem, group})
        found.update(extra)
        keep = {t.strip().lower() for t in found if len(t.strip()) >= min_chars}
        return cls(frozenset(keep), min_chars)

    def find(self, text: str) -> list[str]:
        """The sensitive tokens that occur as whole tokens in ``text`` (sorted; a stem is left
        out when its file name is found as well)."""
        hits = set()
        for raw in TOKEN_RE.findall(text):
            if len(raw) >= self.min_chars:
                hits.update(self.tokens.intersection(token_variants(raw)))
        # A stem found inside a file name found too is the same occurrence: name it once.
        return sorted(h for h in hits if not any(h != o and h in o for o in hits))


def absolute_source_paths(root: str, sources: Iterable[str]) -> list[str]:
    """``root/source`` for each source path, as the ingest stage saw them."""
    return [str(PurePath(root) / s) for s in sources] if root else []


@dataclass
class Refusals:
    """Reasons a release is refused, grouped by kind, with a few examples of each."""

    kinds: dict[str, list[str]] = field(default_factory=dict)  # what -> examples

    def add(self, what: str, example: str) -> None:
        """Record one instance of a problem (``what`` reads after a count, e.g. "image(s)...")."""
        self.kinds.setdefault(what, []).append(example)

    def extend(self, other: Refusals) -> None:
        for what, examples in other.kinds.items():
            self.kinds.setdefault(what, []).extend(examples)

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def lines(self, limit: int = 3) -> list[str]:
        """One line per kind: the count and the first ``limit`` examples."""
        out = []
        for what, examples in self.kinds.items():
            shown = ", ".join(examples[:limit]) + (", ..." if len(examples) > limit else "")
            out.append(f"{len(examples)} {what} ({shown})" if examples[0] else what)
        return out

    def message(self) -> str:
        """The one-line refusal."""
        return "release refused, nothing written: " + "; ".join(self.lines())
