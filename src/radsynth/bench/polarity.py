"""``radsynth bench polarity``: ingest's polarity and rotation checks on planted films.

Takes a folder of films stored the standard way (positive, upright; PNG, JPEG, TIFF or DICOM,
read through ingest's reader, so a DICOM is displayed through its header and the header is then
ignored), draws ``--n`` distinct films (seeded), inverts a random ``--fraction`` and turns a
random ``--rotate-fraction`` by 90, 180 or 270 degrees, and runs the checks exactly as ingest
runs them (issue 27): the shipped networks with their out-of-distribution gate, the collection
model started from their calls, and the rules of :mod:`radsynth.data.filmgate`
(:func:`radsynth.data.filmchecks.check_films` with the films' thumbnails). A film the rules
send to review counts as review, whatever the reason.

Printed, each count with its exact (Clopper-Pearson) 95% interval: the polarity's accuracy,
review share and accuracy among decided films; the rotation's, with the upright films turned
(the goal is none); both together; and, for comparison, issue 18's collection-only rule, the
shipped networks alone and the hand-made cue alone. ``--fit-on OTHER`` instead learns issue
18's collection model on another folder's films (taken as standard) and applies it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radsynth.config import arg
from radsynth.data.filmchecks import CheckSettings, FilmCheck, check_films, cue_score
from radsynth.data.ingest_checks import thumbnail
from radsynth.films.selfsup import (
    POLARITY_ROTATION,
    Film,
    _expand,
    features,
    fit_logistic,
    logits,
    represent,
)
from radsynth.screening.bench import load_films
from radsynth.stage import StageResult
from radsynth.stats.proportions import clopper_pearson_ci


@dataclass(frozen=True)
class BenchPolarityConfig:
    """Plant inversions and quarter turns into standard films and run ingest's checks."""

    src: Path = arg(help="folder of standard films (PNG/JPEG/TIFF/DICOM)", positional=True)
    n: int = arg(600, help="films drawn at random (seeded); 0 = all")
    fraction: float = arg(0.5, help="share of the films inverted")
    rotate_fraction: float = arg(0.1, help="share also turned by 90, 180 or 270 deg")
    size_px: int = arg(224, help="films are scaled to fit size_px (as ingest does)")
    review_below: float = arg(0.9, help="confidence below which a film goes to review")
    fit_on: Path | None = arg(
        None,
        help="learn issue 18's collection model on this folder's films, taken as standard, "
        "and apply it here instead: cross-source",
    )
    seed: int = arg(0, help="seed of the draw, the planting and the cross-fitting folds")


@dataclass(frozen=True)
class Planted:
    """Films with known planted defects."""

    films: list[np.ndarray]  # float (H, W) films in [0, 1], as ingest reads them
    inverted: np.ndarray  # (N,) bool: the film was inverted
    turns: np.ndarray  # (N,) int: counter-clockwise quarter turns applied


@dataclass(frozen=True)
class Tally:
    """Counts of one run of the checks against the planted truth."""

    films: int  # films checked
    polarity_review: int  # films whose polarity went to review
    polarity_decided_right: int  # decided polarities that are right
    rotation_review: int  # films sent to review for their rotation only
    any_review: int  # films sent to review for any reason
    upright: int  # films not turned
    upright_turned: int  # upright films the checks turned (the goal is 0)
    turned: int  # films turned
    turned_put_right: int  # turned films decided and undone correctly
    rotation_decided_right: int  # films not sent to review whose rotation is right
    both_right_decided: int  # films decided with polarity and rotation both right


def plant(films: list[np.ndarray], fraction: float, rotate_fraction: float, seed: int) -> Planted:
    """Invert a seeded ``fraction`` of the films and turn a seeded ``rotate_fraction``."""
    rng = np.random.default_rng(seed + 1)
    inverted = rng.random(len(films)) < fraction
    turns = np.where(rng.random(len(films)) < rotate_fraction, rng.integers(1, 4, len(films)), 0)
    out = [
        np.ascontiguousarray(np.rot90(1.0 - f if inv else f, int(k)))
        for f, inv, k in zip(films, inverted, turns, strict=True)
    ]
    return Planted(out, inverted, turns)


@dataclass(frozen=True)
class Inputs:
    """What ingest's checks read of each planted film, computed once for every rule compared."""

    cues: np.ndarray  # (N,) the hand-made polarity cue (negative: looks inverted)
    reps: list[Film]  # the collection model's representations (films.selfsup.represent)
    thumbs: list[np.ndarray]  # the shipped networks' thumbnails (ingest_checks.thumbnail)


def check_inputs(planted: Planted) -> Inputs:
    """The cue, representation and thumbnail of each planted film."""
    films = planted.films
    return Inputs(
        np.array([cue_score(f) for f in films]),
        [represent(f) for f in films],
        [thumbnail(f) for f in films],
    )


def run_checks(inputs: Inputs, settings: CheckSettings, shipped: bool = True) -> list[FilmCheck]:
    """Ingest's checks on the planted films: with the shipped networks (``shipped``, as ingest
    runs today) or issue 18's collection-only rule."""
    thumbs = inputs.thumbs if shipped else None
    return check_films(inputs.reps, inputs.cues, [None] * len(inputs.reps), settings, thumbs)


def tally(checks: list[FilmCheck], planted: Planted) -> Tally:
    """Count the checks' decisions and reviews against the planted truth."""
    review = np.array([bool(c.review) for c in checks])
    pol_review = np.array(["polarity" in c.review for c in checks])
    pol_right = np.array([c.negative for c in checks]) == planted.inverted
    rot = np.array([c.rotation_deg // 90 for c in checks])
    up = planted.turns == 0
    return Tally(
        films=len(checks),
        polarity_review=int(pol_review.sum()),
        polarity_decided_right=int((pol_right & ~pol_review).sum()),
        rotation_review=int((review & ~pol_review).sum()),
        any_review=int(review.sum()),
        upright=int(up.sum()),
        upright_turned=int((up & ~review & (rot != 0)).sum()),
        turned=int((~up).sum()),
        turned_put_right=int((~up & ~review & (rot == planted.turns)).sum()),
        rotation_decided_right=int((~review & (rot == planted.turns)).sum()),
        both_right_decided=int((~review & pol_right & (rot == planted.turns)).sum()),
    )


def share(x: int, n: int) -> str:
    """``x/n`` as a percentage with its exact 95% interval."""
    if n == 0:
        return "n/a (0)"
    lo, hi = clopper_pearson_ci(x, n)
    return f"{100 * x / n:.1f}% ({x}/{n}; 95% CI {100 * lo:.1f}-{100 * hi:.1f}%)"


def tally_lines(t: Tally) -> list[str]:
    """The printed lines of :func:`bench_polarity` for one tally."""
    decided, decided_all = t.films - t.polarity_review, t.films - t.any_review
    return [
        f"polarity (combined): accuracy among decided {share(t.polarity_decided_right, decided)}, "
        f"review {share(t.polarity_review, t.films)}",
        f"rotation: accuracy among decided {share(t.rotation_decided_right, decided_all)}, "
        f"review for rotation only {share(t.rotation_review, t.films)}, upright films turned "
        f"{share(t.upright_turned, t.upright)}, turned films put right "
        f"{share(t.turned_put_right, t.turned)}",
        f"both: review for any reason {share(t.any_review, t.films)}, both right among decided "
        f"{share(t.both_right_decided, decided_all)}",
    ]


def bench_polarity(cfg: BenchPolarityConfig) -> StageResult:
    """Plant inversions and turns; print ingest's checks' accuracy and review share."""
    films = load_films(cfg.src, cfg.n, cfg.size_px, cfg.seed)
    planted = plant(films, cfg.fraction, cfg.rotate_fraction, cfg.seed)
    head = (
        f"{len(films)} films from {cfg.src}, {int(planted.inverted.sum())} inverted, "
        f"{int((planted.turns > 0).sum())} turned (seed {cfg.seed})"
    )
    if cfg.fit_on is not None:
        return StageResult(cfg.src, "\n".join([head, *cross_source_lines(cfg, planted)]))
    settings = CheckSettings(review_below=cfg.review_below, seed=cfg.seed)
    inputs = check_inputs(planted)
    lines = [head, "ingest's rule (shipped networks + collection model + gate):"]
    lines += tally_lines(tally(run_checks(inputs, settings), planted))
    lines.append("issue 18's rule (collection model alone), for comparison:")
    lines += tally_lines(tally(run_checks(inputs, settings, shipped=False), planted))
    cue_right = int(((inputs.cues < 0) == planted.inverted).sum())
    lines.append(f"polarity (hand cue alone): accuracy {share(cue_right, len(films))}")
    return StageResult(cfg.src, "\n".join(lines))


def cross_source_lines(cfg: BenchPolarityConfig, planted: Planted) -> list[str]:
    """Issue 18's collection model learned on ``cfg.fit_on``'s films (taken as standard) and
    applied to the planted films: polarity and rotation accuracy, no review."""
    source = load_films(cfg.fit_on, cfg.n, cfg.size_px, cfg.seed)
    x, y = _expand([represent(f) for f in source], POLARITY_ROTATION)
    w = fit_logistic(x, y, len(POLARITY_ROTATION), 1e-2)
    k = logits(w, np.stack([features(represent(f)) for f in planted.films])).argmax(1)
    n = len(planted.films)
    return [
        f"polarity, model learned on {cfg.fit_on}: accuracy "
        f"{share(int(((k >= 4) == planted.inverted).sum()), n)}",
        f"rotation, model learned on {cfg.fit_on}: accuracy "
        f"{share(int((k % 4 == planted.turns).sum()), n)}",
    ]
