"""``radsynth bench screen``: plant gross implausibilities among real films and measure the
screen's recall per planted kind and its false-rejection rate (FRR) on the plausible ones.

Films are drawn from a folder of standard real films (seeded): ``--n-reference`` become the
held-out reference the screen is calibrated on, ``--n-plausible`` others are screened as they
are, and ``--n-per-kind`` films get each kind planted. By default the planted films are yet
other films; ``--plant-into-plausible`` plants each kind into copies of the first
``--n-per-kind`` plausible films instead, so that a small source (the 54 Actualmed films) still
gives a count per kind. The screen scores every film against the reference only, so a planted
copy does not change how its plausible original is scored.

Every rate is printed with its count and an exact Clopper-Pearson 95% interval (Clopper &
Pearson, Biometrika 1934; :func:`radsynth.stats.proportions.clopper_pearson_ci`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from radsynth.config import arg
from radsynth.data.imageio import write_png
from radsynth.data.resample import pad_to_square
from radsynth.errors import RadsynthError
from radsynth.records.screen import P_COLUMNS, read_screen_rows
from radsynth.screening.bench import load_films
from radsynth.screening.midline import swap_halves_lr
from radsynth.screening.screen import ScreenConfig, screen
from radsynth.stage import StageResult
from radsynth.stats.proportions import clopper_pearson_ci


def _swap_tb(f: np.ndarray) -> np.ndarray:
    h = f.shape[0] // 2
    return np.concatenate([f[h:], f[:h]], axis=0)


def _mirror_half(f: np.ndarray) -> np.ndarray:
    h = f.shape[1] // 2
    return np.concatenate([f[:, :h], f[:, :h][:, ::-1]], axis=1)[:, : f.shape[1]]


#: The gross implausibilities planted by ``bench screen``.
IMPLAUSIBLE = {
    "upside-down": lambda f: f[::-1],
    "halves swapped left-right": swap_halves_lr,
    "one side mirrored onto the other": _mirror_half,
    "halves swapped top-bottom": _swap_tb,
    "rotated 90 degrees": lambda f: np.rot90(f),
}


@dataclass(frozen=True)
class BenchScreenConfig:
    """Plant implausibilities among real films and measure the screen's recall and FRR."""

    src: Path = arg(help="folder of standard real films (PNG/JPEG/TIFF/DICOM)", positional=True)
    n_reference: int = arg(300, help="films used as the held-out reference (calibration)")
    n_plausible: int = arg(100, help="other real films screened as they are")
    n_per_kind: int = arg(20, help="films planted with each implausibility kind")
    plant_into_plausible: bool = arg(
        False,
        help="plant each kind into copies of the first n_per_kind plausible films instead of "
        "into other films (for a small source)",
    )
    size_px: int = arg(128, help="films are resampled to size_px x size_px (padded)")
    frr: float = arg(0.05, help="the screen's false-rejection target")
    frr_confidence: float | None = arg(
        None, help="the screen's --frr-confidence (default: frr on average over draws)"
    )
    canonicalize: bool = arg(True, help="passed to screen: turn films to face left first")
    projection_free: Literal["auto", "on", "off"] = arg(
        "auto", help="passed to screen: the layout/novelty/symmetry part"
    )
    midline: bool = arg(True, help="passed to screen: the mirror-symmetry and midline parts")
    midline_paired: bool = arg(True, help="passed to screen: the paired midline test")
    seed: int = arg(0, help="seed of the draw")


def rate_text(hits: int, n: int) -> str:
    """``0.950 (19/20; 95% CI 0.751-0.999)``: a rate with its count and exact interval."""
    lo, hi = clopper_pearson_ci(hits, n)
    return f"{hits / n:.3f} ({hits}/{n}; 95% CI {lo:.3f}-{hi:.3f})"


def _plant(cfg: BenchScreenConfig, rest: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """(kind, film) of every screened film: the plausible ones, then each kind planted."""
    plausible = rest[: cfg.n_plausible]
    sources = plausible if cfg.plant_into_plausible else rest[cfg.n_plausible :]
    out = [("plausible", f) for f in plausible]
    for j, (kind, fn) in enumerate(IMPLAUSIBLE.items()):
        start = 0 if cfg.plant_into_plausible else j * cfg.n_per_kind
        out += [(kind, fn(f)) for f in sources[start : start + cfg.n_per_kind]]
    return out


def _check(cfg: BenchScreenConfig) -> int:
    """The number of distinct films the bench needs; one-line errors for bad settings."""
    if min(cfg.n_reference, cfg.n_plausible, cfg.n_per_kind) < 1:
        raise RadsynthError("n_reference, n_plausible and n_per_kind must be at least 1")
    if cfg.plant_into_plausible and cfg.n_per_kind > cfg.n_plausible:
        raise RadsynthError(
            f"--plant-into-plausible plants into the plausible films: n_per_kind "
            f"({cfg.n_per_kind}) must not exceed n_plausible ({cfg.n_plausible})"
        )
    planted = 0 if cfg.plant_into_plausible else cfg.n_per_kind * len(IMPLAUSIBLE)
    return cfg.n_reference + cfg.n_plausible + planted


def bench_screen(cfg: BenchScreenConfig) -> StageResult:
    """Run :func:`radsynth.screening.screen.screen` on planted films; print recall per kind and
    the false-rejection rate, each with its count and exact 95% interval."""
    need = _check(cfg)
    films = load_films(cfg.src, need, cfg.size_px, cfg.seed)
    if len(films) < need:
        raise RadsynthError(f"bench screen needs {need} distinct films, {cfg.src} has {len(films)}")
    films = [pad_to_square(f, cfg.size_px) for f in films]
    screened = _plant(cfg, films[cfg.n_reference :])
    truth = {f"{i:05d}.png": kind for i, (kind, _) in enumerate(screened)}
    with tempfile.TemporaryDirectory() as tmp:
        ref, scr, out = Path(tmp) / "ref", Path(tmp) / "screened", Path(tmp) / "out"
        for i, f in enumerate(films[: cfg.n_reference]):
            write_png(ref / f"{i:05d}.png", f)
        for i, (_, f) in enumerate(screened):
            write_png(scr / f"{i:05d}.png", f)
        screen(
            ScreenConfig(
                src=scr,
                out=out,
                reference=ref,
                frr=cfg.frr,
                frr_confidence=cfg.frr_confidence,
                canonicalize=cfg.canonicalize,
                projection_free=cfg.projection_free,
                midline=cfg.midline,
                midline_paired=cfg.midline_paired,
            )
        )
        table = read_screen_rows(out / "screen.csv")
    return StageResult(cfg.src, "\n".join(_report(cfg, len(films), truth, table)))


def _report(cfg: BenchScreenConfig, n_films: int, truth: dict[str, str], table: list) -> list[str]:
    flagged = {r.image: r.flagged for r in table}
    # Which part gave the smallest p-value of each falsely rejected plausible film.
    why = [
        min(P_COLUMNS, key=lambda k: getattr(r, k))
        for r in table
        if r.flagged and truth[r.image] == "plausible"
    ]
    into = "copies of the plausible films" if cfg.plant_into_plausible else "other films"
    lines = [
        f"{n_films} films from {cfg.src}: {cfg.n_reference} reference, {cfg.n_plausible} "
        f"plausible, {cfg.n_per_kind} per planted kind, planted into {into} (frr {cfg.frr}, "
        f"seed {cfg.seed})"
    ]
    for kind in ["plausible", *IMPLAUSIBLE]:
        hits = [flagged[n] for n, k in truth.items() if k == kind]
        what = "false rejections" if kind == "plausible" else "flagged"
        lines.append(f"{kind}: {what} {rate_text(sum(hits), len(hits))}")
        if kind == "plausible" and why:
            lines[-1] += " by " + ", ".join(f"{k} {why.count(k)}" for k in P_COLUMNS)
    bad = [flagged[n] for n, k in truth.items() if k != "plausible"]
    lines.append(f"all planted: flagged {rate_text(sum(bad), len(bad))}")
    return lines
