"""``radsynth ema-sweep TRAIN OUT``: image quality against EMA length, chosen after training.

From the snapshots of a ``radsynth train --ema posthoc`` run, the EMA weights of each
``--sigma-rel`` are reconstructed at each ``--steps`` checkpoint (EDM2 post-hoc EMA; see
:mod:`radsynth.training.posthoc_ema`) and written as sampleable checkpoints. Each is sampled with
the same seeds and scored by FID, KID and precision/recall as the checkpoint sweep scores a
checkpoint (:mod:`radsynth.evaluation.score`); the run's classic EMA of the same step is scored
too, as the reference row. Choosing the lowest row chooses the checkpoint and the EMA length
together.

Output folder::

    OUT/ema_sweep.csv, OUT/ema_sweep.json   one row per (step, EMA), see radsynth.records.ema_sweep
    OUT/fid_vs_sigma_rel.png               FID and KID against sigma_rel, classic EMA as a line
    OUT/checkpoints/step-NNNNNNN-sigma_rel-0.100/   reconstructed checkpoints (radsynth sample)
    OUT/samples/step-NNNNNNN-sigma_rel-0.100/       their samples; .../step-NNNNNNN-classic/
    OUT/cache/                             the real set's features
    OUT/config.json, OUT/manifest.json

Everything is checked and reconstructed before OUT is created: a run without ``--ema posthoc``,
or a missing or corrupt snapshot, is a one-line error and writes nothing. Rerunning the same
command resumes: finished rows are kept and finished images are not redrawn.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.evaluation import plots
from radsynth.evaluation.score import (
    METRIC_COLUMNS,
    EvaluationFields,
    Scorer,
    metric_columns,
    sample_and_score,
    sample_config,
)
from radsynth.layout import RunLayout, ema_row_name, sweep_samples
from radsynth.progress import bar, log_checkpoint
from radsynth.records.ema_sweep import EmaSweepRow, read_ema_sweep, write_ema_sweep
from radsynth.stage import StageResult, draw_figure, prepare_output_dir, write_manifest

if TYPE_CHECKING:
    from radsynth.training.ema_reconstruct import Plan, Target

log = logging.getLogger(__name__)
STAGE = "ema-sweep"


@dataclass(frozen=True, kw_only=True)
class EmaSweepConfig(EvaluationFields):
    """FID/KID of post-hoc EMA lengths (EDM2) reconstructed from a --ema posthoc run."""

    train: Path = arg(help="a `radsynth train --ema posthoc` output folder", positional=True)
    out: Path = arg(help="output folder (ema_sweep.csv, checkpoints/, samples/)", positional=True)
    sigma_rel: tuple[float, ...] = arg(
        (0.05, 0.10, 0.15), help="EMA lengths to reconstruct, as relative std (0 - 0.289)"
    )
    steps: tuple[int, ...] = arg((), help="checkpoint steps to reconstruct at; none: the latest")
    classic: bool = arg(True, help="also score each step's classic EMA, the reference row")
    real: Path | None = arg(None, help="real images; default: data/train beside TRAIN (ingest)")
    sampler: str = arg("dpmpp", help="sampler of radsynth sample (ddpm, ddim, dpmpp, heun)")
    sampler_steps: int = arg(25, help="sampler steps")


def _real_folder(cfg: EmaSweepConfig) -> Path:
    """The real set (default: the ingest's data/train beside TRAIN); OUT must not be in TRAIN."""
    out, train = cfg.out.resolve(), cfg.train.resolve()
    if out == train or train in out.parents:
        raise RadsynthError(f"output folder {cfg.out} is inside TRAIN {cfg.train}; choose another")
    real = cfg.real if cfg.real is not None else RunLayout(cfg.train.parent).split("train")
    if not real.is_dir():
        raise RadsynthError(f"real image folder {real} not found; pass --real FOLDER")
    return real


def _check(cfg: EmaSweepConfig) -> None:
    from radsynth.sampling.samplers import get_sampler

    if cfg.n < 2:
        raise RadsynthError(f"--n must be at least 2 (FID needs a covariance), got {cfg.n}")
    if cfg.weights != "ema":
        raise RadsynthError("ema-sweep scores EMA weights; --weights online has no EMA length")
    if cfg.sampler_steps < 1:
        raise RadsynthError(f"--sampler-steps must be positive, got {cfg.sampler_steps}")
    get_sampler(cfg.sampler)


def _row(
    step: int, ema: str, target: Target | None, ckpt: Path, metrics: dict, columns: list[str]
) -> EmaSweepRow:
    """One scored row; ``target`` is the reconstruction's Target, None for the classic EMA."""
    value = {c: math.nan if metrics.get(c) is None else metrics[c] for c in columns}
    nan = math.nan
    return EmaSweepRow(
        step=step,
        ema=ema,
        sigma_rel=target.sigma_rel if target else nan,
        gamma=target.gamma if target else nan,
        fit_error=target.fit.relative_error if target else nan,
        checkpoint=str(ckpt),
        n_real=int(value["n_real"]),
        n_fake=int(value["n_fake"]),
        **{k: float(value[k]) for k in ("fid", "kid_mean", "kid_std", "precision", "recall")},
        extra={c: float(v) for c, v in value.items() if c not in METRIC_COLUMNS},
    )


def _write_checkpoints(cfg: EmaSweepConfig, plan: Plan, weights: list[Any]) -> list[Path]:
    """Each reconstruction as a sampleable checkpoint in OUT/checkpoints/ (kept if present)."""
    from safetensors.torch import load_file

    from radsynth.training.checkpoint import WEIGHT_FILES, read_checkpoint_config, save_sampleable

    folders = []
    for target, ema in zip(plan.targets, weights, strict=True):
        folder = cfg.out / "checkpoints" / ema_row_name(target.step, target.sigma_rel)
        if not folder.is_dir():
            meta = read_checkpoint_config(target.checkpoint)
            meta["posthoc_ema"] = {
                "sigma_rel": target.sigma_rel,
                "gamma": target.gamma,
                "fit_relative_error": target.fit.relative_error,
                "sources": [
                    {"snapshot": str(info.path), "profile_sigma_rel": info.sigma_rels[i], "x": x}
                    for (info, i), x in zip(target.sources, target.fit.coefficients, strict=True)
                ],
            }
            online = target.checkpoint / WEIGHT_FILES["online"]
            # Buffers (not averaged) as the run's own EMA holds them; parameters reconstructed.
            merged = {**load_file(target.checkpoint / WEIGHT_FILES["ema"]), **ema}
            save_sampleable(folder, online_file=online, ema=merged, meta=meta)
        folders.append(folder)
    return folders


def _rows_to_run(cfg: EmaSweepConfig, plan: Plan, folders: list[Path]) -> list[tuple]:
    """(step, ema kind, target or None, checkpoint folder) of every row, by step."""
    rows: list[tuple] = []
    for step, checkpoint in plan.checkpoints.items():
        for target, folder in zip(plan.targets, folders, strict=True):
            if target.step == step:
                rows.append((step, "posthoc", target, folder))
        if cfg.classic:
            rows.append((step, "classic", None, checkpoint))
    return rows


def ema_sweep(cfg: EmaSweepConfig) -> StageResult:
    """Reconstruct, sample and score each (step, sigma_rel); see the module doc."""
    from radsynth.training import ema_reconstruct

    _check(cfg)
    real = _real_folder(cfg)
    plan = ema_reconstruct.plan(cfg.train, cfg.steps, cfg.sigma_rel)
    weights = ema_reconstruct.reconstruct(plan)
    scorer = Scorer(cfg, real, cfg.cache_dir or cfg.out / "cache")
    prepare_output_dir(cfg.out, STAGE, cfg, resume=True)  # only once every input checked out
    folders = _write_checkpoints(cfg, plan, weights)
    del weights

    csv_path, json_path = cfg.out / "ema_sweep.csv", cfg.out / "ema_sweep.json"
    rows = [r for r in read_ema_sweep(csv_path) if not math.isnan(r.fid)]
    for step, kind, target, ckpt in bar(_rows_to_run(cfg, plan, folders), desc=STAGE, unit="row"):
        name = ema_row_name(step, target.sigma_rel if target else None)
        if any(
            ema_row_name(r.step, None if r.ema == "classic" else r.sigma_rel) == name for r in rows
        ):
            log_checkpoint(log, STAGE, name, "scored by an earlier run, reused")
            continue
        scfg = sample_config(
            cfg,
            ckpt,
            sweep_samples(cfg.out, name),
            sampler=cfg.sampler,
            steps=cfg.sampler_steps,
            progress=False,
        )
        scored = sample_and_score(scfg, scorer)
        rows.append(_row(step, kind, target, ckpt, scored.metrics, metric_columns(cfg)))
        write_ema_sweep(csv_path, json_path, rows)  # after each row: an interrupted sweep keeps it
        log_checkpoint(log, STAGE, name, f"FID {rows[-1].fid:.3f}, KID {rows[-1].kid_mean:.4f}")

    feature = scorer.extractors[cfg.feature].identity.split(":")[0]
    title = f"Image quality against EMA length ({feature}; N synthetic {cfg.n})"
    draw_figure(
        "fid_vs_sigma_rel.png",
        lambda: plots.fid_vs_sigma_rel(cfg.out / "fid_vs_sigma_rel.png", rows, title),
    )
    best = min(rows, key=lambda r: r.fid)
    write_manifest(
        cfg.out,
        STAGE,
        cfg,
        inputs=[
            *(s.path for s in plan.snapshots),
            *(p / "config.json" for p in plan.checkpoints.values()),
        ],
        seeds={"start": cfg.seed_start, "n": cfg.n},
        extra={
            "real": str(real),
            "n_real": len(scorer.real_paths),
            "feature_identities": scorer.identities(),
        },
    )
    label = "the classic EMA" if best.ema == "classic" else f"sigma_rel {best.sigma_rel:g}"
    return StageResult(
        out=cfg.out,
        summary=f"{len(rows)} EMA rows scored into {csv_path}; lowest FID {best.fid:.3f} with "
        f"{label} at step {best.step}",
    )
