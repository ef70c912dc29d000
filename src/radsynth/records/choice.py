"""``checkpoints.json``: the checkpoints chosen for sampling and why (written by ``radsynth
run``, read by the report)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.stage import atomic_write_text


@dataclass(frozen=True)
class CheckpointChoice:
    """The chosen training steps and one plain-language reason per step."""

    steps: tuple[int, ...]  # sorted training steps
    reasons: dict[int, str]  # step -> why it was chosen
    how: str = ""  # who chose: named in the pipeline file, or proposed from the curves
    # step -> the checkpoint folder to sample when it is not the training run's own (a post-hoc
    # EMA reconstruction chosen with its step); empty for a choice of steps alone
    checkpoints: dict[int, str] = field(default_factory=dict)


def write_choice(path: Path, choice: CheckpointChoice, how: str | None = None) -> None:
    """Write ``checkpoints.json`` (keys: chosen, reason, reasons)."""
    how = choice.how if how is None else how
    lines = [f"step {s:,}: {choice.reasons[s]}" for s in choice.steps]
    payload = {
        "chosen": list(choice.steps),
        "reason": f"{how}. " + "; ".join(lines) + ".",
        "reasons": {str(s): r for s, r in choice.reasons.items()},
    }
    if choice.checkpoints:  # only then, so that a choice of steps alone reads as before
        payload["checkpoints"] = {str(s): c for s, c in choice.checkpoints.items()}
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


def read_choice(path: Path) -> CheckpointChoice:
    """Read ``checkpoints.json``.

    Raises:
        RadsynthError: missing, not JSON, or not the shape :func:`write_choice` writes.
    """
    data = read_json(path, "checkpoint choice")
    try:
        steps = tuple(int(s) for s in data["chosen"])
        reasons = {int(k): str(v) for k, v in dict(data.get("reasons", {})).items()}
        how = str(data.get("reason", "")).split(". ", 1)[0]
        folders = {int(k): str(v) for k, v in dict(data.get("checkpoints", {})).items()}
    except (KeyError, TypeError, ValueError):
        raise RadsynthError(f"{path} is not a checkpoint choice (chosen, reasons)") from None
    return CheckpointChoice(steps, reasons, how, folders)
