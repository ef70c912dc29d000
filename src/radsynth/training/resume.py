"""Where a training run goes on from with ``--resume``: one rule for every model family.

A run folder holds its stage's ``manifest.json`` and ``config.json`` and one folder per
checkpoint; only a checkpoint with a training state (``state.pt``) can be resumed. Resuming
takes the latest such checkpoint and checks the config it was trained with against the new one
(the run's ``config.json`` when no checkpoint was saved yet); the caller's check refuses a
changed setting that matters. The DDPM (:mod:`radsynth.training.train`), the GAN
(:mod:`radsynth.gan.train`) and the autoencoder (:mod:`radsynth.latent.train`) all use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.config import config_json
from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.stage import atomic_write_text
from radsynth.training.checkpoint import STATE_FILE


@dataclass(frozen=True)
class ResumePoint:
    """Where a run goes on from."""

    checkpoint: Path | None  # the latest checkpoint with a training state; None: none saved
    saved: dict[str, Any]  # the config that checkpoint (or, without one, the run) was made with


def resume_point(
    out: Path,
    stage: str,
    checkpoints: Sequence[Path],
    saved_config: Callable[[Path], dict[str, Any]],
) -> ResumePoint | None:
    """The resume point of the run in ``out``; None when ``out`` is absent or empty (start
    afresh). Writes nothing.

    Args:
        out: the run folder.
        stage: the stage that must have written it (``train``, ``train-gan`` ...).
        checkpoints: its checkpoint folders, oldest first.
        saved_config: the training config a checkpoint folder was made with.

    Raises:
        RadsynthError: ``out`` holds another stage's output (one line).
    """
    if not (out.is_dir() and any(out.iterdir())):
        return None
    try:
        written_by = read_json(out / "manifest.json").get("stage")
        saved = read_json(out / "config.json")
    except (RadsynthError, AttributeError):
        written_by, saved = None, {}
    if written_by != stage:
        raise RadsynthError(f"cannot resume: {out} does not hold a radsynth {stage} run")
    resumable = [p for p in checkpoints if (p / STATE_FILE).is_file()]
    if not resumable:
        return ResumePoint(None, saved)
    return ResumePoint(resumable[-1], saved_config(resumable[-1]))


def reopen_run(out: Path, stage: str, cfg: Any) -> None:
    """Mark a resumed run unfinished again (its manifest says so until the stage completes) and
    record the config it goes on with."""
    atomic_write_text(out / "config.json", config_json(cfg))
    atomic_write_text(out / "manifest.json", json.dumps({"stage": stage, "complete": False}))
