"""The release's per-image manifest (``metadata.csv``) and checksums (``SHA256SUMS``).

``metadata.csv`` starts with ``file_name``, the column Hugging Face ``imagefolder`` joins on
(``load_dataset("imagefolder", data_dir=OUT)`` then yields each image with its row).
``SHA256SUMS`` is in the format ``sha256sum -c`` checks: ``<hex digest><two spaces><path>``,
one file per line, paths relative to the release folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: metadata.csv columns before the conditional ones.
LEAD_COLUMNS = (
    "file_name",  # images/<id>.png, what imagefolder loads
    "id",  # opaque image id: the first 16 hex digits of the PNG's sha256
    "checkpoint",  # checkpoint folder, e.g. step-0068000
    "checkpoint_step",  # training step of the checkpoint
    "checkpoint_sha256",  # sha256 of the sampled weights file
    "seed",  # the image's sampling seed (image n depends on seed n alone)
    "sampler",  # ddpm | ddim | dpmpp | heun
    "steps",  # sampler steps
)
#: Written only when some image's sidecar has them (class-conditional models).
CONDITIONAL_COLUMNS = ("guidance", "class")
TRAIL_COLUMNS = (
    "screen_score",  # implausibility score (higher = less plausible)
    "screen_flagged",  # 1 when the screen's automatic decision was exclude
    "screen_decision",  # final decision: keep | exclude
    "decided_by",  # auto, or the pseudonym of the reviewer who made the final decision
    "orientation_flipped",  # 1 when the image was mirrored to the canonical side
    "audit_similarity",  # cosine similarity to the nearest training image
    "audit_percentile",  # its percentile (0-100) among real held-out images' NN similarities
    "audit_flagged",  # 1 when the audit flagged it as a memorization candidate
    "audit_verdict",  # the reviewers' agreed verdict on a flagged image ("not" = not a copy)
    "width_px",
    "height_px",
    "bits",  # bit depth of the PNG
    "sha256",  # sha256 of the released PNG file
)


def metadata_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The columns for these rows: the conditional ones only where some row has a value."""
    present = {c for r in rows for c in CONDITIONAL_COLUMNS if r.get(c) not in (None, "")}
    return [*LEAD_COLUMNS, *(c for c in CONDITIONAL_COLUMNS if c in present), *TRAIL_COLUMNS]


def sha256sums(entries: Mapping[str, str]) -> str:
    """``SHA256SUMS`` text from relative path -> hex digest, sorted by path."""
    for path in entries:
        if "\n" in path or "\\" in path:
            raise ValueError(f"path {path!r} cannot be listed in SHA256SUMS")
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(entries.items()))


def parse_sha256sums(text: str) -> dict[str, str]:
    """Relative path -> hex digest from ``SHA256SUMS`` text (text or binary mode lines)."""
    out = {}
    for line in text.splitlines():
        digest, path = line[:64], line[66:]
        out[path] = digest
    return out
