"""``radsynth fid-sweep RUN``: image quality across a training run's checkpoints.

For every K-th checkpoint (and always the last), N images are sampled with the same seeds
(``seed_start .. seed_start + N - 1``, so steps differ by their weights only), and FID, KID and
precision/recall against the real set are written as one row of ``OUT/fid.csv``; the real set's
features are extracted once (and cached). ``OUT/fid_vs_step.png`` plots FID versus training
step, as the study's Figure 2 (which used every 10th checkpoint, 7,250 samples, 4,963 reals).

Output folder (by default ``fid_sweep/`` beside RUN; never inside RUN)::

    OUT/fid.csv              step,checkpoint,n_real,n_fake,fid,kid_mean,kid_std,precision,recall,
                             fid_<extra>,kid_mean_<extra>,kid_std_<extra> per extra feature space
    OUT/fid_vs_step.png
    OUT/samples/step-.../    the sampled images of each checkpoint (``radsynth sample`` folders)
    OUT/cache/               the real set's features
    OUT/config.json, OUT/manifest.json

Rerunning the same command resumes: finished rows are kept and finished images are not redrawn.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.evaluation import plots
from radsynth.evaluation.collapse import collapse_reason
from radsynth.evaluation.score import (
    EvaluationFields,
    Scorer,
    metric_columns,
    sample_and_score,
    sample_config,
)
from radsynth.layout import RunLayout, sweep_samples
from radsynth.layout import checkpoint_step as step_of_name
from radsynth.progress import bar, log_checkpoint
from radsynth.records.curves import FID_COLUMNS, FidRow, read_fid, write_fid
from radsynth.stage import StageResult, draw_figure, prepare_output_dir, write_manifest

log = logging.getLogger(__name__)
STAGE = "fid-sweep"


@dataclass(frozen=True, kw_only=True)
class FidSweepConfig(EvaluationFields):
    """FID, KID and precision/recall of every K-th checkpoint of a training run."""

    #: Fields of the diffusion family only (a GAN is one generator call per image).
    FAMILY_ONLY: ClassVar[dict[str, tuple[str, ...]]] = {"diffusion": ("sampler", "steps")}

    run: Path = arg(help="training output folder (holding checkpoints/step-*/)", positional=True)
    every: int = arg(10, help="score every K-th checkpoint (K, 2K, ...), and always the last")
    real: Path | None = arg(None, help="real images; default: data/train beside RUN (ingest)")
    out: Path | None = arg(None, help="output folder; default: fid_sweep/ beside RUN")
    # Diffusion checkpoints only; None: not given (sample's default), refused for a GAN run.
    sampler: str | None = arg(None, help="sampler of radsynth sample (ddpm, ddim, dpmpp, heun)")
    steps: int | None = arg(None, help="sampler steps [25]")


def chosen_checkpoints(checkpoints: list[Path], every: int) -> list[Path]:
    """The K-th, 2K-th, ... checkpoints, plus the last one."""
    if every < 1:
        raise RadsynthError(f"--every must be at least 1, got {every}")
    chosen = checkpoints[every - 1 :: every]
    if checkpoints and checkpoints[-1] not in chosen:
        chosen.append(checkpoints[-1])
    return chosen


def checkpoint_step(path: Path) -> int:
    """The training step of a checkpoint folder ``step-NNNNNNN`` (:mod:`radsynth.layout`)."""
    step = step_of_name(path.name)
    if step is None:
        raise RadsynthError(f"{path} is not a checkpoint folder (expected step-NNNNNNN)")
    return step


def resolve_paths(cfg: FidSweepConfig) -> tuple[Path, Path, Path]:
    """(real folder, output folder, cache folder), with the sibling-folder defaults: the
    ingest's ``data/train`` and ``fid_sweep/`` beside RUN, and ``OUT/cache``."""
    run = RunLayout(cfg.run.parent)
    real = cfg.real if cfg.real is not None else run.split("train")
    out = cfg.out if cfg.out is not None else run.generator().fid_sweep
    if out.resolve() == cfg.run.resolve() or cfg.run.resolve() in out.resolve().parents:
        raise RadsynthError(f"output folder {out} is inside RUN {cfg.run}; choose another --out")
    if not real.is_dir():
        raise RadsynthError(f"real image folder {real} not found; pass --real FOLDER")
    return real, out, cfg.cache_dir if cfg.cache_dir is not None else out / "cache"


def _num(value: float, fmt: str) -> str:
    return "n/a" if math.isnan(value) else format(value, fmt)


def describe_row(row: FidRow) -> str:
    """A fid.csv row in words, for the per-checkpoint summary line."""
    return (
        f"FID {_num(row.fid, '.3f')}, KID {_num(row.kid_mean, '.4f')}, precision "
        f"{_num(row.precision, '.3f')}, recall {_num(row.recall, '.3f')} "
        f"({row.n_fake} synthetic vs {row.n_real} real)"
    )


def warn_mixed_n(rows: list[FidRow]) -> list[str]:
    """Warnings when the rows were computed at different N (their FIDs do not compare)."""
    notes = []
    for key in ("n_real", "n_fake"):
        values = sorted({getattr(r, key) for r in rows})
        if len(values) > 1:
            notes.append(f"fid.csv mixes {key} values {values}: FID depends on N")
    for note in notes:
        log.warning(note)
    return notes


def fid_row(step: int, checkpoint: Path, metrics: dict[str, Any], columns: list[str]) -> FidRow:
    """The record of one scored checkpoint: the ``columns`` (:func:`metric_columns`) of
    :meth:`Scorer.score`'s metrics, a missing value (None) as NaN."""
    value = {c: math.nan if metrics.get(c) is None else metrics[c] for c in columns}
    diversity = math.nan if metrics.get("diversity") is None else float(metrics["diversity"])
    precision, recall = float(value["precision"]), float(value["recall"])
    return FidRow(
        step=step,
        checkpoint=str(checkpoint),
        n_real=int(value["n_real"]),
        n_fake=int(value["n_fake"]),
        fid=float(value["fid"]),
        kid_mean=float(value["kid_mean"]),
        kid_std=float(value["kid_std"]),
        precision=precision,
        recall=recall,
        extra={c: float(v) for c, v in value.items() if c not in FID_COLUMNS},
        diversity=diversity,
        collapse=collapse_reason(diversity, precision, recall),
    )


def refuse_for_gan(cfg: FidSweepConfig, checkpoint: Path) -> None:
    """A GAN run's sweep takes no sampler settings (one generator call per image).

    Raises:
        RadsynthError: ``--sampler`` or ``--steps`` given for a run of GAN checkpoints.
    """
    from radsynth.gan.checkpoint import is_gan_checkpoint

    given = [f for f in cfg.FAMILY_ONLY["diffusion"] if getattr(cfg, f) is not None]
    if given and is_gan_checkpoint(checkpoint):
        raise RadsynthError(f"--{given[0]} is a diffusion setting; {cfg.run} holds GAN checkpoints")


def fid_sweep(cfg: FidSweepConfig) -> StageResult:
    """Sample and score every ``cfg.every``-th checkpoint of ``cfg.run``; see the module doc."""
    from radsynth.training.checkpoint import list_checkpoints

    if cfg.n < 2:
        raise RadsynthError(f"--n must be at least 2 (FID needs a covariance), got {cfg.n}")
    checkpoints = list_checkpoints(cfg.run)
    if not checkpoints:
        raise RadsynthError(f"no checkpoints found in {cfg.run} (expected checkpoints/step-*/)")
    chosen = chosen_checkpoints(checkpoints, cfg.every)
    refuse_for_gan(cfg, chosen[-1])
    real, out, cache_dir = resolve_paths(cfg)
    scorer = Scorer(cfg, real, cache_dir)
    prepare_output_dir(out, STAGE, cfg, resume=True)  # only once the inputs all check out

    # Rows an earlier run of the same config finished are kept (a row without FID is not).
    rows = [r for r in read_fid(out / "fid.csv") if not math.isnan(r.fid)]
    for ckpt in bar(chosen, desc="fid-sweep", unit="ckpt"):
        if any(r.step == checkpoint_step(ckpt) for r in rows):
            log_checkpoint(log, STAGE, ckpt.name, "scored by an earlier run, reused")
            continue
        scfg = sample_config(
            cfg,
            ckpt,
            sweep_samples(out, ckpt.name),
            sampler=cfg.sampler,
            steps=cfg.steps,
            progress=False,
        )
        scored = sample_and_score(scfg, scorer)
        rows.append(fid_row(checkpoint_step(ckpt), ckpt, scored.metrics, metric_columns(cfg)))
        write_fid(out / "fid.csv", rows)  # after each row: an interrupted sweep keeps it
        log_checkpoint(log, STAGE, ckpt.name, describe_row(rows[-1]))
        if rows[-1].collapse:
            log.warning("%s: %s looks collapsed: %s", STAGE, ckpt.name, rows[-1].collapse)

    warnings = warn_mixed_n(rows)
    warnings += [f"step {r.step} looks collapsed: {r.collapse}" for r in rows if r.collapse]
    n_real, names = len(scorer.real_paths), list(scorer.extractors)
    feature = scorer.extractors[cfg.feature].identity.split(":")[0]
    title = f"FID vs training step ({feature}; N real {n_real}, N synthetic {cfg.n})"
    draw_figure(
        "fid_vs_step.png",
        lambda: plots.fid_vs_step(out / "fid_vs_step.png", rows, cfg.feature, names[1:], title),
        warnings,
    )
    best = min(rows, key=lambda r: r.fid)
    extra: dict[str, Any] = {
        "real": str(real),
        "n_real": n_real,
        "checkpoints": [str(p) for p in chosen],
        "feature_identities": scorer.identities(),
        "warnings": warnings,
    }
    write_manifest(
        out,
        STAGE,
        cfg,
        inputs=[p / "config.json" for p in chosen],
        seeds={"start": cfg.seed_start, "n": cfg.n},
        extra=extra,
    )
    summary = (
        f"{len(rows)} checkpoints scored into {out / 'fid.csv'}; lowest FID "
        f"{best.fid:.3f} at step {best.step} (N real {n_real}, synthetic {cfg.n})"
    )
    return StageResult(out=out, summary=summary)
