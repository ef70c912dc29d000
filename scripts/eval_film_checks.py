"""Measure ingest's polarity and rotation checks on a source that chose nothing (issue 27).

Each film of SRC is read as ingest reads it (scaled to --size-px, header display applied for
DICOMs and then ignored: pixels only), a seeded half is inverted, a seeded third (``--turned``) is
turned by 90/180/270 degrees and, with ``--mirrored``, a seeded share is mirrored left-right (the
issue's protocol: ``--turned 0 --mirrored 0.5``: every film upright, half inverted, half
mirrored; ingest must not care which way a film faces), and the checks run as ingest runs them
(shipped networks + collection model + gate). Printed, each with exact (Clopper-Pearson) 95% bounds:

- polarity: review share, accuracy among decided films;
- rotation: upright films turned (the goal is none), turned films put right, review share;
- reliability of the shipped networks alone: accuracy among films at or above each confidence.

    OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/eval_film_checks.py SRC [SRC ...] --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from radsynth.data.filmchecks import CheckSettings, check_films, cue_score
from radsynth.data.ingest import find_files, read_any
from radsynth.data.ingest_checks import thumbnail
from radsynth.data.resample import scale_to_fit
from radsynth.films.augment import augment
from radsynth.films.checknet import call_shipped, load_checks
from radsynth.films.selfsup import represent
from radsynth.stats.proportions import clopper_pearson_ci

CUTS = (0.5, 0.9, 0.99, 0.999)


def frac(x: int, n: int) -> str:
    if n == 0:
        return "n/a (0 films)"
    lo, hi = clopper_pearson_ci(x, n)
    return f"{100 * x / n:.1f}% ({x}/{n}; 95% CI {100 * lo:.1f}-{100 * hi:.1f}%)"


def load(src: Path, size_px: int, limit: int, seed: int) -> list[np.ndarray]:
    files = find_files(src)
    if limit and len(files) > limit:
        pick = np.random.default_rng(seed).choice(len(files), limit, replace=False)
        files = [files[i] for i in sorted(pick)]
    return [scale_to_fit(read_any(f, ("ot",))[0], size_px, "pad") for f in files]


def plant(films: list[np.ndarray], seed: int, turned: float = 1 / 3, mirrored: float = 0.0):
    rng = np.random.default_rng(seed)
    inv = rng.random(len(films)) < 0.5
    turns = np.where(rng.random(len(films)) < turned, rng.integers(1, 4, len(films)), 0)
    # Drawn after the others, so --mirrored 0 plants exactly what it planted before.
    mir = rng.random(len(films)) < mirrored if mirrored > 0 else np.zeros(len(films), bool)
    out = []
    for f, i, k, m in zip(films, inv, turns, mir, strict=True):
        x = 1.0 - f if i else f
        out.append(np.ascontiguousarray(np.rot90(x[:, ::-1] if m else x, int(k))))
    return out, inv, turns


def measure(
    films: list[np.ndarray], seed: int, min_films: int, turned: float = 1 / 3, mirrored: float = 0.0
) -> dict[str, str]:
    planted, inv, turns = plant(films, seed, turned, mirrored)
    cues = np.array([cue_score(f) for f in planted])
    thumbs = [thumbnail(f) for f in planted]
    settings = CheckSettings(seed=seed, min_films=min_films)
    checks = check_films(
        [represent(f) for f in planted], cues, [None] * len(planted), settings, thumbs
    )
    review = np.array([bool(c.review) for c in checks])
    neg = np.array([c.negative for c in checks])
    rot = np.array([c.rotation_deg // 90 for c in checks])
    up = turns == 0
    ok = ~review
    out = {
        "films": str(len(films)),
        "review, any reason": frac(int(review.sum()), len(films)),
        "review for polarity": frac(sum("polarity" in c.review for c in checks), len(films)),
        "review for rotation only": frac(
            sum(bool(c.review) and "polarity" not in c.review for c in checks), len(films)
        ),
        "polarity right among decided": frac(int((neg == inv)[ok].sum()), int(ok.sum())),
        "upright films turned": frac(int((up & ok & (rot != 0)).sum()), int(up.sum())),
        "upright films decided upright": frac(int((up & ok & (rot == 0)).sum()), int(up.sum())),
        "turned films put right": frac(int((~up & ok & (rot == turns)).sum()), int((~up).sum())),
        "turned films decided wrong": frac(
            int((~up & ok & (rot != turns)).sum()), int((~up).sum())
        ),
        "reviewed films with the right suggested turn": frac(
            int((review & (rot == turns)).sum()), int(review.sum())
        ),
        "reviewed films with a wrong non-zero suggested turn": frac(
            int((review & (rot != 0) & (rot != turns)).sum()), int(review.sum())
        ),
        "reasons": sorted({c.review.split(" (")[0] for c in checks if c.review}),
    }
    nets = load_checks()
    call = call_shipped(nets, thumbs)
    out["ood gated (shipped networks)"] = frac(
        int((call.ood_distance > nets.ood_cut).sum()), len(films)
    )
    pconf = np.maximum(call.p_negative, 1 - call.p_negative)
    pright = (call.p_negative > 0.5) == inv
    rconf, rright = call.p_rotation.max(1), call.p_rotation.argmax(1) == turns
    for cut in CUTS:
        sel = pconf >= cut
        out[f"shipped polarity, right among P>={cut}"] = frac(
            int(pright[sel].sum()), int(sel.sum())
        )
        sel = rconf >= cut
        out[f"shipped rotation, right among P>={cut}"] = frac(
            int(rright[sel].sum()), int(sel.sum())
        )
    return out


def variants(films: list[np.ndarray]) -> dict[str, str]:
    """Each film in all eight (inverted?, quarter turns) forms, each checked alone (a one-film
    folder: the shipped networks and the gate, no collection model)."""
    settings = CheckSettings()
    right = decided = upright_turned = 0
    for f in films:
        for inv in (False, True):
            for k in range(4):
                x = np.ascontiguousarray(np.rot90(1.0 - f if inv else f, k))
                (c,) = check_films(
                    [represent(x)], np.array([cue_score(x)]), [None], settings, [thumbnail(x)]
                )
                decided += not c.review
                right += not c.review and c.negative == inv and c.rotation_deg == 90 * k
                upright_turned += k == 0 and not c.review and c.rotation_deg != 0
    n = 8 * len(films)
    return {
        "variants": str(n),
        "review": frac(n - decided, n),
        "right among decided": frac(right, decided),
        "upright variants turned": frac(upright_turned, 2 * len(films)),
    }


def wrong_turn_scores(nets, films: list[np.ndarray]) -> np.ndarray:
    """Each film in its four turns: the probability of the likeliest wrong turn, shape (4N,)."""
    out = []
    for k in range(4):
        p = call_shipped(nets, [np.ascontiguousarray(np.rot90(f, k)) for f in films]).p_rotation
        out.append(np.delete(p, k, axis=1).max(1))
    return np.concatenate(out)


def calibrate(films: list[np.ndarray], weights: Path, alpha: float) -> dict[str, str]:
    """The split-conformal turn threshold of the networks in ``weights`` on these films: the
    ceil((1 - alpha)(n + 1))-th smallest likeliest-wrong-turn probability, so that a new film
    exchangeable with them reaches it for a wrong turn with probability at most ``alpha``."""
    nets = load_checks(weights / "rotation.safetensors", weights / "polarity.safetensors")
    scores = np.sort(wrong_turn_scores(nets, films))
    n = len(scores)
    rank = int(np.ceil((1 - alpha) * (n + 1)))
    cut = float(scores[rank - 1]) if rank <= n else 1.0
    return {
        "calibration scores": str(n),
        f"conformal turn threshold (alpha {alpha})": f"{cut:.6f}",
        "wrong turns at P >= 0.99": frac(int((scores >= 0.99).sum()), n),
    }


def check_cut(films: list[np.ndarray], weights: Path, cut: float) -> dict[str, str]:
    """How often the networks in ``weights`` reach ``cut`` for a wrong turn on these films."""
    nets = load_checks(weights / "rotation.safetensors", weights / "polarity.safetensors")
    scores = wrong_turn_scores(nets, films)
    return {f"wrong turns at P >= {cut:.6f}": frac(int((scores >= cut).sum()), len(scores))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src", type=Path, nargs="+")
    ap.add_argument("--size-px", type=int, default=224)
    ap.add_argument("--limit", type=int, default=0, help="at most this many films (seeded draw)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-films", type=int, default=30)
    ap.add_argument("--variants", action="store_true", help="all 8 forms of each film, alone")
    ap.add_argument("--calibrate", type=Path, help="weights folder: conformal turn threshold")
    ap.add_argument("--check-cut", type=float, help="with --calibrate's folder: wrong-turn rate")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument(
        "--augment", type=float, default=0.0, help="apply radsynth.films.augment with this p first"
    )
    ap.add_argument(
        "--processing",
        action="store_true",
        help="with --augment: the vendor-processing augmentation among them",
    )
    ap.add_argument("--turned", type=float, default=1 / 3, help="share of films turned")
    ap.add_argument("--mirrored", type=float, default=0.0, help="share of films mirrored")
    args = ap.parse_args()
    if args.processing and not args.augment:
        ap.error("--processing is one of the augmentations: give --augment P > 0 too")
    import torch

    torch.set_num_threads(1)
    for src in args.src:
        films = load(src, args.size_px, args.limit, args.seed)
        if args.augment:
            rng = np.random.default_rng(args.seed + 500)
            films = [augment(f, rng, args.augment, args.processing) for f in films]
        if args.calibrate and args.check_cut is not None:
            res = check_cut(films, args.calibrate, args.check_cut)
        elif args.calibrate:
            res = calibrate(films, args.calibrate, args.alpha)
        elif args.variants:
            res = variants(films)
        else:
            res = measure(films, args.seed, args.min_films, args.turned, args.mirrored)
        print(json.dumps({"source": str(src), "seed": args.seed, **res}, indent=1), flush=True)


if __name__ == "__main__":
    main()
