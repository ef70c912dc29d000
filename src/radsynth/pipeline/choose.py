"""Choosing the checkpoints to sample from, from the validation-loss and FID curves.

The study picked three checkpoints by eye from its loss curves (Figure 1) and FID curve
(Figure 2). radsynth proposes them by rule and writes the reasons, so the choice can be checked:

1. the checkpoint with the lowest FID (best sample quality by the standard metric);
2. the earliest checkpoint whose FID is within ``tolerance`` of that minimum: as good by FID, but
   trained less, so less exposed to memorizing the training set (Carlini et al. 2023 show
   memorization grows with training);
3. the checkpoint with the lowest validation loss (best fit of held-out images);

then, while fewer than ``count`` distinct checkpoints are chosen, the next-lowest FID.

With a post-hoc EMA sweep (``ema_sweep:`` of a ``train: {ema: posthoc}`` generator) the step and
the EMA length are chosen together (:func:`with_ema_lengths`): each step is scored by the best of
its EMA rows (the reconstructed lengths and the classic EMA), the same rules then choose the steps
from those scores, and each chosen step is sampled with its best EMA.
"""

from __future__ import annotations

import math
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.records.choice import CheckpointChoice, write_choice
from radsynth.records.curves import read_fid, read_losses
from radsynth.records.ema_sweep import EmaSweepRow

__all__ = [
    "CheckpointChoice",
    "fid_curve",
    "named_checkpoints",
    "propose_checkpoints",
    "val_loss_curve",
    "with_ema_lengths",
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


def best_ema_rows(rows: list[EmaSweepRow]) -> dict[int, EmaSweepRow]:
    """step -> its row with the lowest FID (ties: the classic EMA, then the shorter length)."""
    best: dict[int, EmaSweepRow] = {}
    for r in sorted((r for r in rows if math.isfinite(r.fid)), key=_rank):
        best.setdefault(r.step, r)
    return best


def _rank(row: EmaSweepRow) -> tuple[float, bool, float]:
    length = row.sigma_rel if math.isfinite(row.sigma_rel) else 0.0
    return (row.fid, row.ema != "classic", length)


def _ema_words(row: EmaSweepRow) -> str:
    if row.ema == "classic":
        return "the classic EMA"
    return f"post-hoc EMA sigma_rel {row.sigma_rel:.3f}"


def with_ema_lengths(
    choice: CheckpointChoice, rows: list[EmaSweepRow], classic_fid: dict[int, float]
) -> CheckpointChoice:
    """``choice`` with each chosen step's best EMA from the sweep: its checkpoint folder (when
    a reconstruction beats the classic EMA) and the reason, with the classic EMA's FID beside.

    Args:
        choice: the steps chosen (by :func:`propose_checkpoints` over the best rows' FIDs, or
            named in the pipeline file).
        rows: the EMA sweep's rows.
        classic_fid: step -> the classic EMA's FID (from the same sweep), for the reason.
    """
    best = best_ema_rows(rows)
    reasons, folders = dict(choice.reasons), {}
    for step in choice.steps:
        row = best.get(step)
        if row is None:
            continue
        classic = classic_fid.get(step)
        versus = f"; the classic EMA: FID {classic:.2f}" if classic is not None else ""
        reasons[step] = f"{reasons[step]}, with {_ema_words(row)} (FID {row.fid:.2f}{versus})"
        if row.ema != "classic":
            folders[step] = row.checkpoint
    return CheckpointChoice(choice.steps, reasons, choice.how, folders)
