"""``radsynth study simulate``: answer a study with simulated raters, for demos and tests.

Simulated raters are added as new raters of kind ``simulated``; they never answer for, or mix
with, the human raters, and the admin page and the export's ``rater_kind`` column label them.

Observer model (a deliberately simple signal-detection stand-in, cf. Green & Swets 1966):

- quartet: with probability ``p_pick_real`` the rater picks the real image, otherwise one of the
  others uniformly at random;
- single: a real image is called "real" with probability ``p_pick_real``, a synthetic one with
  probability ``1 - p_pick_real``; a fraction ``p_unsure`` of answers is "unsure";
- time per item: log-normal with median ``seconds_median`` and log-sd 0.5;
- ratings: ``round(mean + noise)`` clipped to 1..4, with mean ``rating_real`` for real images,
  ``rating_synthetic`` for synthetic ones, 1 for attention-check noise, and
  ``noise ~ N(0, rating_sd^2)``;
- finding question: in a study-wide study every image gets "yes" (as always); in a per-class
  study (``--finding-per-class``) an image is said to show its own class's finding with
  probability ``p_finding_real`` (real) or ``p_finding_synthetic`` (synthetic), independently
  per image, and attention-check noise gets "no". Real films are drawn from the labelled
  classes, so a reader confirms them most of the time but not always (labels are noisy and
  findings subtle); a generator that renders its class less convincingly earns fewer "yes".

Rater ``i``'s answers depend on (seed, i) alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.stage import StageResult
from radsynth.study import classes
from radsynth.study import db as t
from radsynth.study import service as svc
from radsynth.study.migrate import open_study


@dataclass(frozen=True)
class SimulateConfig:
    """Answer a reader study with simulated raters (labelled 'simulated' everywhere)."""

    study: Path = arg(help="study folder made by 'radsynth study create'", positional=True)
    raters: int = arg(4, help="number of simulated raters to add")
    seed: int = arg(0, help="seed of the simulated answers")
    p_pick_real: float = arg(0.6, help="probability of picking (or calling) the real image")
    p_unsure: float = arg(0.1, help="single design: probability of answering unsure")
    rating_real: float = arg(3.0, help="mean realism rating of real images (1-4)")
    rating_synthetic: float = arg(2.6, help="mean realism rating of synthetic images (1-4)")
    rating_sd: float = arg(0.8, help="standard deviation of the rating noise")
    seconds_median: float = arg(8.0, help="median time per item in seconds (log-normal, sd 0.5)")
    p_finding_real: float = arg(
        0.85, help="per-class studies: probability a real image is said to show its finding"
    )
    p_finding_synthetic: float = arg(
        0.7, help="per-class studies: probability a synthetic image is said to show its finding"
    )
    db: str | None = arg(None, help="database URL; default the one the study was created with")


def simulated_answer(
    groups: list[str], ids: list[str], design: str, cfg: SimulateConfig, rng: np.random.Generator
) -> tuple[str | None, str | None, dict[str, int]]:
    """(picked, answer, ratings) for one item whose images have these groups and ids."""
    real = [i for i, g in enumerate(groups) if g == "real"]
    picked = answer = None
    if design == "quartet":
        others = [i for i in range(len(ids)) if i not in real]
        if real and rng.random() < cfg.p_pick_real:
            picked = ids[real[0]]
        else:
            picked = ids[int(rng.choice(others or list(range(len(ids)))))]
    else:
        says_real = rng.random() < (cfg.p_pick_real if real else 1 - cfg.p_pick_real)
        answer = "unsure" if rng.random() < cfg.p_unsure else ("real" if says_real else "fake")
    means = {"real": cfg.rating_real, "attention": 1.0}
    ratings = {
        i: int(
            np.clip(
                np.rint(means.get(g, cfg.rating_synthetic) + rng.normal(0, cfg.rating_sd)), 1, 4
            )
        )
        for i, g in zip(ids, groups, strict=True)
    }
    return picked, answer, ratings


def simulated_findings(
    groups: list[str],
    ids: list[str],
    per_class: bool,
    cfg: SimulateConfig,
    rng: np.random.Generator,
) -> dict[str, str]:
    """The finding answers (image id -> yes/no) for one item (see the module docstring)."""
    if not per_class:
        return dict.fromkeys(ids, "yes")  # draws nothing: study-wide answers stay as before
    p = {"real": cfg.p_finding_real, "attention": 0.0}
    return {
        i: "yes" if rng.random() < p.get(g, cfg.p_finding_synthetic) else "no"
        for i, g in zip(ids, groups, strict=True)
    }


def simulate_raters(cfg: SimulateConfig) -> StageResult:
    """Add ``cfg.raters`` simulated raters and answer every item for each (see module doc)."""
    probabilities = (cfg.p_pick_real, cfg.p_unsure, cfg.p_finding_real, cfg.p_finding_synthetic)
    if cfg.raters < 1 or not all(0 <= p <= 1 for p in probabilities):
        raise RadsynthError("--raters must be >= 1 and probabilities within 0..1")
    if cfg.seconds_median <= 0 or cfg.rating_sd < 0:
        raise RadsynthError("--seconds-median must be > 0 and --rating-sd >= 0")
    engine = open_study(t.resolve_url(cfg.study, cfg.db))
    try:
        with Session(engine) as s:
            meta = svc.study_meta(s)
            template = s.scalar(select(t.Rater).where(t.Rater.kind == "human").limit(1))
            n_sim = s.scalar(select(func.count()).where(t.Rater.kind == "simulated"))
            if template is None:
                raise RadsynthError("the study has no raters to copy the item order from")
            orders = list(
                s.execute(
                    select(t.Assignment.seq, t.Assignment.item_id)
                    .where(t.Assignment.rater_id == template.id)
                    .order_by(t.Assignment.seq)
                )
            )
            items = {}
            for item_id in {i for _, i in orders}:
                ids = svc.item_image_ids(s, item_id)
                groups = [s.get(t.Image, i).group for i in ids]
                items[item_id] = (ids, groups)
        answered = 0
        for k in range(n_sim, n_sim + cfg.raters):
            rng = np.random.default_rng([cfg.seed, k])
            with Session(engine) as s, s.begin():
                rater = t.Rater(
                    name=f"sim-{k + 1:02d}",
                    kind="simulated",
                    closed=False,
                    token_sha256=t.token_hash(secrets.token_urlsafe(32)),
                    created_at=t.utcnow(),
                    started_at=t.utcnow(),
                )
                s.add(rater)
                s.flush()
                # Each simulated rater gets its own shuffled order, like a human rater.
                perm = rng.permutation(len(orders))
                for seq, j in enumerate(perm, start=1):
                    s.add(t.Assignment(rater_id=rater.id, seq=seq, item_id=orders[j][1]))
                s.flush()
                for seq, j in enumerate(perm, start=1):
                    ids, groups = items[orders[j][1]]
                    picked, answer, ratings = simulated_answer(
                        groups, ids, meta["design"], cfg, rng
                    )
                    finding = (
                        simulated_findings(groups, ids, classes.per_class(meta), cfg, rng)
                        if "finding" in svc.questions(meta)
                        else {}
                    )
                    sub = svc.Submission(0, picked, answer, ratings, finding)
                    seconds = cfg.seconds_median * float(np.exp(rng.normal(0, 0.5)))
                    svc.submit(s, rater, seq, sub, seconds=seconds)
                    answered += 1
    finally:
        engine.dispose()
    return StageResult(cfg.study, f"{cfg.raters} simulated raters answered {answered} items")
