"""A GAN run's ``losses.csv``: one row per checkpoint, the mean of each loss part since the last.

Columns: ``step``, ``kimg`` (thousands of real images seen), ``loss_d`` (the discriminator's
total loss), ``adversarial_d`` (its RpGAN part), ``r1`` and ``r2`` (E||grad D||^2 on real and
fake images, before the gamma/2 weight), ``loss_g`` (the generator's RpGAN loss). A GAN's losses
do not fall steadily as a DDPM's do; they show balance (adversarial_d near log 2 = 0.693 means
D cannot tell the pairs apart) and blow-ups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows
from radsynth.records._csv import write_csv

#: The logged parts, in the order the training step returns them.
LOSS_PARTS = ("loss_d", "adversarial_d", "r1", "r2", "loss_g")
COLUMNS = ("step", "kimg", *LOSS_PARTS)


def write_gan_losses(out: Path, history: list[dict[str, Any]]) -> Path:
    """Write ``out/losses.csv`` atomically from the history rows (``COLUMNS`` keys)."""
    return write_csv(Path(out) / "losses.csv", COLUMNS, history)


def read_gan_losses(path: Path) -> dict[str, list[float]] | None:
    """The columns of a GAN's ``losses.csv`` as lists of floats (``step`` first), or None when
    the file is missing or is not a GAN's (a DDPM's losses.csv has other columns)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        rows = read_csv_rows(path, "GAN loss history", COLUMNS)
    except RadsynthError:
        return None
    return {c: [float(r[c]) for r in rows] for c in COLUMNS}
