"""Test films: a seeded draw of real films from a folder, and crude drawn frontal chest films with
a known side (for the tests of the mirror network, no real films needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radsynth.data.imageio import list_images, read_gray


def real_films(folder: Path, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` films of ``folder`` drawn without replacement (seeded), in file-name order."""
    paths = list_images(folder)
    pick = np.random.default_rng(seed).choice(len(paths), size=n, replace=False)
    return [read_gray(paths[i]) for i in sorted(pick)]


def drawn_frontal(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A crude standard frontal chest film: a bright trunk, two dark lung fields and a bright
    heart on the image right, at a random position, size and exposure."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    cx, cy = 0.5 + rng.uniform(-0.08, 0.08), 0.5 + rng.uniform(-0.08, 0.08)
    s = rng.uniform(0.8, 1.15)
    body = (((xx - cx) / (0.38 * s)) ** 2 + ((yy - cy) / (0.46 * s)) ** 2 < 1) * 0.55
    lungs = sum(
        (((xx - (cx + side * 0.15 * s)) / (0.12 * s)) ** 2 + ((yy - cy + 0.05) / (0.3 * s)) ** 2
         < 1) * 0.35 for side in (-1, 1)
    )  # fmt: skip
    heart = (((xx - (cx + 0.08 * s)) / (0.12 * s)) ** 2 + ((yy - cy - 0.12) / (0.1 * s)) ** 2
             < 1) * 0.3  # fmt: skip
    film = 0.1 + body - lungs + heart + rng.normal(0, 0.03, (size, size))
    return np.clip(film, 0, 1) ** rng.uniform(0.8, 1.25)
