"""Loss history of a run: ``losses.csv`` and a ``loss_curves.png`` plot (the study's Fig. 1)."""

from __future__ import annotations

import io
import math
from pathlib import Path

from radsynth.records.curves import LossRow, write_losses
from radsynth.stage import atomic_write_bytes


def write_losses_csv(out: Path, history: list[dict[str, float]]) -> Path:
    """Write ``out/losses.csv`` (:func:`radsynth.records.write_losses`), atomically."""
    rows = [LossRow(int(r["step"]), r["train_loss"], r["val_loss"]) for r in history]
    return write_losses(out / "losses.csv", rows)


def plot_loss_curves(out: Path, history: list[dict[str, float]]) -> Path:
    """Plot train and validation loss against step to ``out/loss_curves.png``."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    steps = [r["step"] for r in history]
    fig = Figure(figsize=(6, 3.6), dpi=120)
    ax = fig.subplots()
    ax.plot(steps, [r["train_loss"] for r in history], "o-", ms=3, label="training loss")
    val = [r["val_loss"] for r in history]
    if any(math.isfinite(v) for v in val):
        ax.plot(steps, val, "s-", ms=3, label="validation loss")
    ax.set_xlabel("training step")
    ax.set_ylabel("MSE loss")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path = out / "loss_curves.png"
    atomic_write_bytes(path, buf.getvalue())
    return path
