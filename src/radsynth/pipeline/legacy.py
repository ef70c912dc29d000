"""Cache keys of run folders written before pipeline.json had a format number (format 1).

Those folders recorded hand-built keys for the two keep steps: the keep mode and the text of
every image's fate (plus the audit's key for ``exclude copies``). Every other step's key was
built as it is now. Recomputing the old keep keys lets an unchanged old folder stay cached
(:attr:`radsynth.pipeline.steps.Step.legacy_key`) instead of re-running the audit, re-creating
the reader study and so moving its answers aside.
"""

from __future__ import annotations

from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.fates.keep import decide_fates
from radsynth.fates.records import ImageFate
from radsynth.pipeline.steps import state_format, step_key


def _fates_text(fates: list[ImageFate]) -> str:
    return "\n".join(f"{f.image} {f.final} {int(f.copy)} {int(f.kept)}" for f in fates)


def legacy_keep_key(
    run: Path, screen: Path, review: Path, mode: str, *, audit_key: str | None = None
) -> str | None:
    """The key a format-1 folder recorded for ``keep`` (``audit_key`` None) or for
    ``exclude copies`` (the audit's key given); None for a newer folder or no screen yet."""
    if state_format(run) != 1:
        return None
    try:
        fates = decide_fates(screen, review, mode, with_audit=audit_key is not None)
    except RadsynthError:
        return None  # nothing screened yet: there is no old key to match
    upstream = [_fates_text(fates)] if audit_key is None else [audit_key, _fates_text(fates)]
    return step_key(mode, upstream)
