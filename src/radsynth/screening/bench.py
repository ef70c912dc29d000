"""``radsynth bench orient``: accuracy of orient's facing checks (``bench screen`` is
:mod:`radsynth.screening.bench_screen`; ``bench polarity``, ingest's polarity and rotation
checks, is :mod:`radsynth.bench.polarity`).

It takes a folder of films stored the standard way (positive, upright, standard side; PNG,
JPEG, TIFF or DICOM, read through ingest's reader, so a DICOM is displayed through its header),
draws ``--n`` of them at random (seeded), mirrors a random ``--fraction`` and runs the
label-free detector on the result, as orient would. Printed: accuracy on all films, the fraction
sent to review and the accuracy on the films not sent to review, for each check, plus simpler
cues alone for comparison. Exact pixel duplicates are dropped first (the CR fixtures hold the
same two films in several transfer syntaxes).

``bench orient`` runs orient's frontal check (the laterality network and side markers) and, for
comparison, the network alone and the heart-side filter alone. ``--fit-on OTHER`` instead trains
the network on another source's films (taken as standard) and applies it to this one: a
cross-source test in either direction.

``bench orient --view auto [--lateral-src LAT]`` mixes SRC's frontal films with LAT's left-facing
lateral films, mirrors a random half, and runs orient's auto path (:func:`detect_all`): view
accuracy and review, then each view's side accuracy, and the mixed-view warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from radsynth.config import arg
from radsynth.data.ingest import find_files, pixel_hash, read_any
from radsynth.data.resample import scale_to_fit
from radsynth.errors import RadsynthError
from radsynth.films.augment import augment as add_artefacts
from radsynth.progress import bar
from radsynth.screening.facing import analyse, detect
from radsynth.screening.laterality import MirrorModel, load_model
from radsynth.screening.mirror import decide_mirrored, marker_asymmetry
from radsynth.screening.mirror_model import MirrorModelConfig, fit_model
from radsynth.screening.orient import detect_all
from radsynth.stage import StageResult
from radsynth.stats.proportions import clopper_pearson_ci


@dataclass(frozen=True)
class BenchFilmsConfig:
    """Plant defects into standard films and measure the label-free checks."""

    src: Path = arg(help="folder of standard films (PNG/JPEG/TIFF/DICOM)", positional=True)
    n: int = arg(600, help="films drawn at random (seeded); 0 = all")
    fraction: float = arg(0.5, help="share of the films mirrored")
    size_px: int = arg(224, help="films are scaled to fit size_px (as ingest does)")
    review_below: float = arg(0.9, help="confidence below which a film goes to review")
    view: Literal["frontal", "lateral", "auto"] = arg(
        "frontal", help="orient: the projection; auto: SRC is frontal, --lateral-src lateral"
    )
    lateral_src: Path | None = arg(
        None, help="orient --view auto: folder of left-facing lateral films mixed with SRC's"
    )
    n_lateral: int = arg(0, help="orient --view auto: lateral films drawn (0 = as many as --n)")
    fit_on: Path | None = arg(
        None,
        help="learn the mirror network on this folder's films, taken as standard, instead: "
        "cross-source",
    )
    mirror_model: Path | None = arg(
        None, help="orient: the mirror network's weights (default: the shipped model)"
    )
    artefacts: float = arg(
        0.0,
        help="orient --view frontal: give each film, after planting, each real-film artefact "
        "(radsynth.films.augment: letterbox, text, marker, wires, crop, collimation, portable "
        "AP) with this probability",
    )
    processing: bool = arg(
        False,
        help="with --artefacts: the vendor-processing artefact (radsynth.films.augment."
        "processing) among them",
    )
    seed: int = arg(0, help="seed of the draw and of the planting")


def load_films(src: Path, n: int, size_px: int, seed: int) -> list[np.ndarray]:
    """``n`` (0: all) distinct readable films of ``src`` in a seeded order, scaled to fit
    ``size_px`` as ingest scales them. Exact pixel duplicates are dropped (the CR fixtures hold
    the same films in several transfer syntaxes)."""
    files = find_files(src)
    films, seen = [], set()
    for i in bar(np.random.default_rng(seed).permutation(len(files)), desc="bench: read"):
        try:
            pixels = read_any(files[i])[0]
        except RadsynthError:
            continue
        digest = pixel_hash(pixels)
        if digest not in seen:
            seen.add(digest)
            films.append(scale_to_fit(pixels, size_px, "pad"))
        if n and len(films) == n:
            break
    if len(films) < 2:
        raise RadsynthError(f"bench needs at least 2 distinct readable films in {src}")
    return films


def score_line(name: str, correct: np.ndarray, review: np.ndarray) -> str:
    """One result line: accuracy, review fraction, accuracy on the films not reviewed."""
    kept = ~review
    acc_kept = f"{correct[kept].mean():.4f} ({int(correct[kept].sum())}/{int(kept.sum())})"
    return (
        f"{name}: accuracy {correct.mean():.4f} ({int(correct.sum())}/{len(correct)}), "
        f"review {review.mean():.4f} ({int(review.sum())}), "
        f"accuracy on non-reviewed {acc_kept if kept.any() else 'n/a'}"
    )


def plant_mirrors(
    films: list[np.ndarray], seed: int, fraction: float, artefacts: float, processing: bool
) -> tuple[list[np.ndarray], np.ndarray]:
    """(planted films, mirrored): a seeded ``fraction`` of ``films`` mirrored, then, when
    ``artefacts`` > 0, every film given the real-film artefacts of
    :func:`radsynth.films.augment.augment` (vendor processing among them when ``processing``)
    from the same generator, after the mirror, so they carry no left-right cue."""
    rng = np.random.default_rng(seed + 1)
    mirrored = rng.random(len(films)) < fraction
    planted = [f[:, ::-1] if m else f for f, m in zip(films, mirrored, strict=True)]
    if artefacts > 0:
        planted = [add_artefacts(f, rng, artefacts, processing) for f in planted]
    return planted, mirrored


def bench_orient(cfg: BenchFilmsConfig) -> StageResult:
    """Plant mirrors; print the orient detector's accuracy and review fraction."""
    if cfg.mirror_model is not None and (cfg.fit_on is not None or cfg.view == "lateral"):
        raise RadsynthError("--mirror-model needs --view frontal or auto and no --fit-on")
    if not 0.0 <= cfg.artefacts <= 1.0 or (cfg.artefacts > 0 and cfg.view != "frontal"):
        raise RadsynthError("--artefacts must be in [0, 1], and above 0 only with --view frontal")
    if cfg.processing and cfg.artefacts == 0:
        raise RadsynthError("--processing is one of the artefacts: give --artefacts P > 0 too")
    if cfg.view == "auto":
        return bench_view_auto(cfg)
    films = load_films(cfg.src, cfg.n, cfg.size_px, cfg.seed)
    planted, mirrored = plant_mirrors(films, cfg.seed, cfg.fraction, cfg.artefacts, cfg.processing)
    head = f"{len(films)} films from {cfg.src}, {int(mirrored.sum())} mirrored (seed {cfg.seed})"
    if cfg.artefacts > 0:
        kinds = "artefacts (vendor processing too)" if cfg.processing else "artefacts"
        head += f", {kinds} with P {cfg.artefacts:g} each"
    none = np.zeros(len(films), bool)
    if cfg.view == "lateral":
        scores = detect_all(planted, "lateral").scores
        return StageResult(
            cfg.src, f"{head}\n{score_line('lateral facing', (scores < 0) == mirrored, none)}"
        )
    if cfg.fit_on is not None:
        model, what = _fit_network(cfg), f"network trained on {cfg.fit_on}"
    else:
        model, what = load_model(cfg.mirror_model), f"network {cfg.mirror_model or 'shipped'}"
    z = model.logit(planted)
    call = decide_mirrored(z, np.array([marker_asymmetry(f) for f in planted]), cfg.review_below)
    net = decide_mirrored(z, None, cfg.review_below)
    parts = [analyse(f, "frontal") for f in planted]
    heart, _ = detect(np.array([p for p, _ in parts]), np.stack([g for _, g in parts]))
    lines = [
        head,
        score_line(
            f"frontal mirror ({what} + markers, review)", call.flip == mirrored, call.review
        ),
        exact_line("frontal mirror (network + markers)", call.flip == mirrored, call.review),
        score_line(f"frontal mirror ({what} alone, review)", net.flip == mirrored, net.review),
        score_line("frontal mirror (heart-side filter alone)", (heart < 0) == mirrored, none),
    ]
    return StageResult(cfg.src, "\n".join(lines))


def exact_line(name: str, correct: np.ndarray, review: np.ndarray) -> str:
    """Right among decided films and the review share, as counts with exact Clopper-Pearson 95%
    intervals (Clopper & Pearson, Biometrika 1934)."""
    decided, n = ~review, len(review)
    right, n_dec, n_rev = int(correct[decided].sum()), int(decided.sum()), int(review.sum())
    rev_lo, rev_hi = clopper_pearson_ci(n_rev, n)
    acc = "n/a"
    if n_dec:
        lo, hi = clopper_pearson_ci(right, n_dec)
        acc = f"{right}/{n_dec} ({right / n_dec:.1%}, 95% CI {lo:.1%}-{hi:.1%})"
    return (
        f"{name}: right among decided {acc}; review {n_rev}/{n} ({n_rev / n:.1%}, "
        f"95% CI {rev_lo:.1%}-{rev_hi:.1%})"
    )


def _fit_network(cfg: BenchFilmsConfig) -> MirrorModel:
    """Train the laterality ensemble on ``cfg.fit_on``'s films (taken as standard) as
    ``radsynth mirror-model`` does, with at least 600 optimisation steps per network however
    few films there are."""
    source = load_films(cfg.fit_on, cfg.n, cfg.size_px, cfg.seed)
    base = MirrorModelConfig(src=cfg.fit_on, out=Path("unused"), seed=cfg.seed)
    n_train = len(source) - max(10, len(source) // 10)
    steps = max(1, n_train // min(base.batch, n_train))
    return fit_model(source, replace(base, epochs=max(base.epochs, math.ceil(600 / steps)))).model


def bench_view_auto(cfg: BenchFilmsConfig) -> StageResult:
    """``bench orient --view auto``: SRC's films (frontal) mixed with ``--lateral-src``'s, a
    random half mirrored; orient's auto path decides each film's view, then its side."""
    frontal = load_films(cfg.src, cfg.n, cfg.size_px, cfg.seed)
    n_lat = (cfg.n_lateral or cfg.n) if cfg.lateral_src is not None else 0
    lateral = load_films(cfg.lateral_src, n_lat, cfg.size_px, cfg.seed) if n_lat > 0 else []
    films = frontal + lateral
    is_lat = np.arange(len(films)) >= len(frontal)
    rng = np.random.default_rng(cfg.seed + 1)
    order = rng.permutation(len(films))  # the detector sees the films shuffled
    mirrored = rng.random(len(films)) < cfg.fraction
    planted = [films[i][:, ::-1] if mirrored[i] else films[i] for i in order]
    found = detect_all(planted, "auto", review_below=cfg.review_below)
    views = np.array(found.views)
    truth_lat, flip = is_lat[order], mirrored[order]
    unsure = views == "unsure"
    view_ok = (views == "lateral") == truth_lat
    # Side truth: frontal films have the heart on the right unless mirrored; laterals face
    # wherever the source had them, so the facing check is scored against the source's side.
    side_ok = (found.scores < 0) == flip
    lines = [
        f"{len(frontal)} frontal films from {cfg.src} and {len(lateral)} lateral films from "
        f"{cfg.lateral_src}, {int(mirrored.sum())} mirrored (seed {cfg.seed})",
        score_line("view (frontal/lateral)", view_ok & ~unsure, unsure),
        f"detected: {int((views == 'frontal').sum())} frontal, "
        f"{int((views == 'lateral').sum())} lateral, {int(unsure.sum())} unsure",
    ]
    for name, sel in (("frontal", ~truth_lat), ("lateral", truth_lat)):
        if sel.any():
            lines.append(
                score_line(
                    f"{name} side (true {name} films)",
                    side_ok[sel] & ~unsure[sel],
                    found.review[sel],
                )
            )
    if found.warning:
        lines.append(found.warning)
    return StageResult(cfg.src, "\n".join(lines))
