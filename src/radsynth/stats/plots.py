"""Figures for the reader study: realism violins (the study's Figure 4) and per-rater accuracy.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot state) and written
atomically as PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from radsynth.stage import atomic_path

_REAL_COLOUR, _SYNTH_COLOUR = "#4C72B0", "#DD8452"


def conf_label(conf_level: float) -> str:
    """A confidence level as a label: 0.95 -> "95%", 0.9 -> "90%", 0.975 -> "97.5%"."""
    return f"{100 * conf_level:.4g}%"


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def realism_violins(
    ratings: Mapping[str, Sequence[int]],
    rater_means: Mapping[str, Sequence[float]],
    path: Path,
    *,
    reference: str = "real",
    scale: tuple[int, int] = (1, 4),
    title: str = "Realism ratings by image group",
) -> Path:
    """Violin plot of every realism rating per group, with each rater's mean as a dot.

    Args:
        ratings: group -> all ratings given to images of that group.
        rater_means: group -> one mean rating per rater (drawn as jittered dots).
        path: PNG to write.
        reference: the group drawn in the real-image colour.
        scale: the rating scale, for the y axis.
    """
    groups = [g for g in ratings if len(ratings[g])]
    fig = Figure(figsize=(1.6 + 1.5 * len(groups), 4.2))
    ax = fig.add_subplot()
    data = [np.asarray(ratings[g], dtype=float) for g in groups]
    parts = ax.violinplot(data, showmeans=False, showextrema=False, bw_method=0.4)
    for body, g in zip(parts["bodies"], groups, strict=True):
        body.set_facecolor(_REAL_COLOUR if g == reference else _SYNTH_COLOUR)
        body.set_alpha(0.55)
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    for x, g in enumerate(groups, start=1):
        means = np.asarray(rater_means.get(g, []), dtype=float)
        ax.scatter(
            x + rng.uniform(-0.08, 0.08, means.size),
            means,
            s=14,
            color="black",
            zorder=3,
            label="one rater's mean" if x == 1 else None,
        )
        ax.hlines(
            data[x - 1].mean(),
            x - 0.25,
            x + 0.25,
            color="black",
            lw=2,
            label="mean of all ratings" if x == 1 else None,
        )
    ax.set_xticks(range(1, len(groups) + 1), groups, rotation=15)
    ax.set_yticks(range(scale[0], scale[1] + 1))
    ax.set_ylim(scale[0] - 0.5, scale[1] + 0.5)
    ax.set_ylabel(f"realism rating ({scale[0]} = clearly artificial, {scale[1]} = fully real)")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def accuracy_per_rater(
    raters: Sequence[str],
    accuracy: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    chance: float,
    path: Path,
    *,
    conf_level: float = 0.95,
    pooled: float | None = None,
    title: str = "Could raters pick the real image?",
) -> Path:
    """Draw :func:`accuracy_figure` to the PNG ``path``."""
    fig = accuracy_figure(
        raters, accuracy, low, high, chance, conf_level=conf_level, pooled=pooled, title=title
    )
    return _save(fig, path)


def accuracy_figure(
    raters: Sequence[str],
    accuracy: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    chance: float,
    *,
    conf_level: float = 0.95,
    pooled: float | None = None,
    title: str = "Could raters pick the real image?",
) -> Figure:
    """Each rater's identification accuracy with its interval at ``conf_level`` and the chance
    line. The intervals must hold the accuracies (low <= accuracy <= high)."""
    fig = Figure(figsize=(max(4.0, 0.7 * len(raters) + 2), 3.6))
    ax = fig.add_subplot()
    x = np.arange(len(raters))
    acc = np.asarray(accuracy)
    err = np.vstack([acc - np.asarray(low), np.asarray(high) - acc])
    label = f"rater ({conf_label(conf_level)} CI)"
    ax.errorbar(x, acc, yerr=err, fmt="o", color=_REAL_COLOUR, capsize=3, label=label)
    ax.axhline(chance, color="grey", ls="--", label=f"chance ({chance:.0%})")
    if pooled is not None:
        ax.axhline(pooled, color=_SYNTH_COLOUR, label=f"all raters ({pooled:.1%})")
    ax.set_xticks(x, raters, rotation=30)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of real images found")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return fig
