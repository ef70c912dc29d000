"""Choosing the checkpoints to sample from, from the validation-loss and FID curves.

The study picked three checkpoints by eye from its loss curves (Figure 1) and FID curve
(Figure 2). radsynth proposes them by rule and writes the reasons, so the choice can be checked:

1. the checkpoint with the lowest FID (best sample quality by the standard metric);
2. the earliest checkpoint whose FID is within ``tolerance`` of that minimum: as good by FID, but
   trained less, so less exposed to memorizing the training set (Carlini et al. 2023 show
   memorization grows with training);
3. the checkpoint with the lowest validation loss (best fit of held-out images);

then, while fewer than ``count`` distinct checkpoints are chosen, the next-lowest FID.
"""

from __future__ import annotations

import math
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.records.choice import CheckpointChoice, write_choice
from radsynth.records.curves import read_fid, read_losses

__all__ = [
    "CheckpointChoice",
    "fid_curve",
    "named_checkpoints",
    "propose_checkpoints",
    "val_loss_curve",
    "write_choice",
]


def fid_curve(path: Path) -> dict[int, float]:
    """step -> FID from ``fid.csv`` (:func:`radsynth.records.read_fid`); NaN rows skipped."""
    return {r.step: r.fid for r in read_fid(path) if math.isfinite(r.fid)}


def val_loss_curve(path: Path) -> dict[int, float]:
    """step -> validation loss from ``losses.csv``; steps without validation skipped."""
    return {r.step: r.val_loss for r in read_losses(path) if math.isfinite(r.val_loss)}


def propose_checkpoints(
    fid: dict[int, float], val_loss: dict[int, float], count: int = 3, tolerance: float = 0.1
) -> CheckpointChoice:
    """Propose ``count`` checkpoints from the FID and validation-loss curves (rules above).

    Args:
        fid: training step -> FID of samples from that checkpoint.
        val_loss: training step -> validation loss at that checkpoint.
        count: how many checkpoints to choose.
        tolerance: relative FID margin for "as good as the best" (0.1 = within 10%).
    """
    steps = sorted(set(fid) | set(val_loss))
    if not steps:
        raise RadsynthError("no FID or validation-loss values to choose checkpoints from")
    reasons: dict[int, str] = {}
    if fid:
        best = min(fid, key=lambda s: (fid[s], s))
        reasons[best] = f"lowest FID ({fid[best]:.2f})"
        limit = fid[best] * (1 + tolerance)
        early = min(s for s in fid if fid[s] <= limit)
        if early != best:
            reasons[early] = (
                f"earliest checkpoint with FID within {tolerance:.0%} of the best "
                f"({fid[early]:.2f}): as good, with less training"
            )
    if val_loss and len(reasons) < count:
        low = min(val_loss, key=lambda s: (val_loss[s], s))
        reasons.setdefault(low, f"lowest validation loss ({val_loss[low]:.4f})")
    ranked = sorted(fid, key=lambda s: (fid[s], s)) if fid else sorted(val_loss, key=val_loss.get)
    for s in ranked:
        if len(reasons) >= count:
            break
        if s not in reasons:
            value = f"FID {fid[s]:.2f}" if fid else f"validation loss {val_loss[s]:.4f}"
            reasons[s] = f"next best ({value})"
    chosen = tuple(sorted(list(reasons)[:count]))  # reasons are in priority order
    return CheckpointChoice(chosen, {s: reasons[s] for s in chosen})


def named_checkpoints(steps: tuple[int, ...], available: list[int]) -> CheckpointChoice:
    """Checkpoints named by the user; each must exist in the training run."""
    missing = [s for s in steps if s not in available]
    if missing:
        raise RadsynthError(
            f"checkpoint step(s) {missing} not in the training run; it has {available}"
        )
    return CheckpointChoice(steps, {s: "named in the pipeline file" for s in steps})
