"""The ``radsynth stats`` stage: reader-study export CSV in, ``stats.json`` and figures out.

A class-conditional study's export (images with a ``label``) also gets ``finding_by_class`` in
``stats.json`` and ``finding_by_class.csv`` (:mod:`radsynth.stats.findings`).

The keys of ``stats.json`` are fixed and documented in ``docs/stats.md``; the file is written
and read through :mod:`radsynth.records.stats`. Simulated raters are never pooled with human
raters: one rater kind is analysed per run (human when present) and the kind is written into
``stats.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from radsynth.config import arg
from radsynth.layout import RunLayout
from radsynth.records.stats import STATS_SCHEMA, StatsRecord, write_stats
from radsynth.stage import (
    StageResult,
    atomic_write_text,
    draw_figure,
    prepare_output_dir,
    sha256_file,
    write_manifest,
)
from radsynth.stats import plots
from radsynth.stats._records import record_dict
from radsynth.stats.agreement import bootstrap_kappa, count_table, fleiss_kappa, randolph_kappa
from radsynth.stats.bootstrap import two_way_bootstrap
from radsynth.stats.by_set import by_set
from radsynth.stats.equivalence import tost_paired
from radsynth.stats.findings import finding_by_class
from radsynth.stats.findings import to_csv as findings_csv
from radsynth.stats.mrmc_analysis import MrmcOptions
from radsynth.stats.mrmc_study import study_mrmc
from radsynth.stats.multiplicity import holm
from radsynth.stats.proportions import accuracy, binom_test
from radsynth.stats.responses import Study, build_study, main_rows, read_responses
from radsynth.stats.wilcoxon import signed_rank_test

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatsConfig:
    """Reader-study statistics: accuracy, kappa, Wilcoxon + Holm, TOST, per-class findings, and
    on a single-design study the MRMC ROC analysis (``mrmc.json`` beside ``stats.json``)."""

    responses: Path = arg(help="the study's long-format export CSV", positional=True)
    out: Path | None = arg(None, help="output folder (default: stats/ beside the CSV's folder)")
    rater_kind: Literal["auto", "human", "simulated"] = arg(
        "auto", help="which raters to analyse; auto = human if any, else simulated"
    )
    reference_group: str = arg("real", help="group name of the real images")
    equivalence_margin: float = arg(
        0.5, help="TOST margin on mean realism, in rating points (state it before the study)"
    )
    alpha: float = arg(0.05, help="significance level of the TOST (each one-sided test)")
    conf_level: float = arg(0.95, help="confidence level of all intervals")
    n_boot: int = arg(2000, help="bootstrap replicates (rater x item and item bootstraps)")
    seed: int = arg(0, help="bootstrap seed; same seed, same intervals")
    scale_min: int = arg(1, help="lowest realism rating")
    scale_max: int = arg(4, help="highest realism rating")
    mrmc_score: Literal["rating", "answer", "none"] = arg(
        "rating",
        help="single design: MRMC ROC score (realism rating, or real/unsure/fake as 3 points)",
    )
    mrmc_covariance: Literal["jackknife", "delong"] = arg(
        "jackknife", help="MRMC AUC covariance estimator"
    )
    mrmc_margin_auc: float = arg(
        0.1, help="MRMC equivalence margin around AUC 0.5 (state it before the study)"
    )

    def __post_init__(self) -> None:
        if self.n_boot < 10:
            raise ValueError("n_boot must be at least 10")
        if not 0 < self.conf_level < 1 or not 0 < self.alpha < 0.5:
            raise ValueError("conf_level must lie in (0, 1) and alpha in (0, 0.5)")
        if self.equivalence_margin <= 0 or self.scale_min >= self.scale_max:
            raise ValueError("equivalence_margin must be > 0 and scale_min < scale_max")
        if not 0 < self.mrmc_margin_auc < 0.5:
            raise ValueError("mrmc_margin_auc must lie in (0, 0.5)")


def identification(study: Study, cfg: StatsConfig) -> dict[str, Any]:
    """Pooled and per-rater accuracy, binomial test against chance, two-way bootstrap."""
    answered = np.isfinite(study.correct)
    correct, n = int(np.nansum(study.correct)), int(answered.sum())
    per_rater = []
    for i, rater in enumerate(study.raters):
        k, m = int(np.nansum(study.correct[i])), int(answered[i].sum())
        if m:
            per_rater.append({"rater": rater, **record_dict(accuracy(k, m, cfg.conf_level))})
    picks: dict[str, int] = dict.fromkeys(study.categories, 0)
    for chosen in study.choices.values():
        picks[chosen] += 1
    return {
        "chance": study.chance,
        "pooled": record_dict(accuracy(correct, n, cfg.conf_level)),
        "binomial_test": record_dict(
            binom_test(correct, n, study.chance, "two-sided", cfg.conf_level)
        ),
        "bootstrap": record_dict(
            two_way_bootstrap(study.correct, cfg.n_boot, cfg.seed, cfg.conf_level)
        ),
        "per_rater": per_rater,
        "choices": picks,
    }


def agreement(study: Study, cfg: StatsConfig, warnings: list[str]) -> dict[str, Any]:
    """Fleiss' and Randolph's kappa over items every rater answered, with an item bootstrap."""
    complete = [it for it in study.items if all((r, it) in study.choices for r in study.raters)]
    if len(complete) < len(study.items):
        warnings.append(
            f"agreement uses the {len(complete)} of {len(study.items)} items "
            "answered by every rater"
        )
    if len(complete) < 2:
        warnings.append("agreement not computed: fewer than 2 items answered by every rater")
        return {
            "categories": list(study.categories),
            "n_items": len(complete),
            "fleiss": None,
            "randolph_kappa": None,
            "bootstrap": None,
        }
    table = count_table(
        [[study.choices[(r, it)] for r in study.raters] for it in complete], study.categories
    )
    return {
        "categories": list(study.categories),
        "n_items": len(complete),
        "fleiss": record_dict(fleiss_kappa(table)),
        "randolph_kappa": randolph_kappa(table),
        "bootstrap": record_dict(bootstrap_kappa(table, cfg.n_boot, cfg.seed, cfg.conf_level)),
    }


def realism(study: Study, cfg: StatsConfig) -> dict[str, Any]:
    """Mean realism per group and rater; Wilcoxon of real vs each group, Holm, TOST."""
    ref = study.reference
    sums = study.rating_sums
    group_means = {
        g: {"mean": float(np.mean(study.ratings[g])), "n_ratings": len(study.ratings[g])}
        for g in study.groups
        if g in study.ratings
    }
    per_rater = [
        {"rater": r, "group": g, "sum": s, "n": n, "mean": s / n}
        for (r, g), (s, n) in sorted(sums.items())
    ]
    tests, tost = [], []
    for g in study.groups[1:]:
        raters = [r for r in study.raters if (r, ref) in sums and (r, g) in sums]
        if len(raters) < 2:
            continue
        # Exact rationals from integer sums: equal differences tie exactly, never by float noise.
        ref_mean = [Fraction(*sums[(r, ref)]) for r in raters]
        grp_mean = [Fraction(*sums[(r, g)]) for r in raters]
        w = signed_rank_test(ref_mean, grp_mean, alternative="two-sided")
        tests.append({"group": g, "reference": ref, "n_raters": len(raters), **record_dict(w)})
        t = tost_paired(
            [float(v) for v in ref_mean],
            [float(v) for v in grp_mean],
            cfg.equivalence_margin,
            cfg.alpha,
        )
        tost.append({"group": g, "reference": ref, **record_dict(t)})
    # Holm over the groups tested, explicitly (not statsmodels' Holm-Sidak default).
    raw = [float("nan") if row["p_value"] is None else row["p_value"] for row in tests]
    for row, p in zip(tests, holm(raw), strict=True):
        row["p_holm"] = None if np.isnan(p) else p
    return {
        "scale": [cfg.scale_min, cfg.scale_max],
        "group_means": group_means,
        "per_rater_means": per_rater,
        "wilcoxon": tests,
        "multiplicity": "holm (Holm 1979; R p.adjust method 'holm'), over the groups tested",
        "tost": tost,
    }


def _figures(
    study: Study, result: dict[str, Any], out: Path, cfg: StatsConfig, warnings: list[str]
) -> dict:
    """Draw the figures; one that fails is left out with a warning (the numbers stand)."""
    suffix = " (SIMULATED raters)" if study.rater_kind == "simulated" else ""
    todo = {}
    if study.ratings:
        means: dict[str, list[float]] = {}
        for row in result["realism"]["per_rater_means"]:
            means.setdefault(row["group"], []).append(row["mean"])
        ordered = {g: study.ratings[g] for g in study.groups if g in study.ratings}
        todo["realism_violin"] = partial(
            plots.realism_violins,
            ordered,
            means,
            out / "realism_violin.png",
            reference=study.reference,
            scale=(cfg.scale_min, cfg.scale_max),
            title="Realism ratings by image group" + suffix,
        )
    rows = result["identification"]["per_rater"]
    todo["accuracy_per_rater"] = partial(
        plots.accuracy_per_rater,
        [r["rater"] for r in rows],
        [r["accuracy"] for r in rows],
        [r["wilson_low"] for r in rows],
        [r["wilson_high"] for r in rows],
        study.chance,
        out / "accuracy_per_rater.png",
        conf_level=cfg.conf_level,
        pooled=result["identification"]["pooled"]["accuracy"],
        title="Could raters pick the real image?" + suffix,
    )
    return {
        key: f"{key}.png" for key, draw in todo.items() if draw_figure(f"{key}.png", draw, warnings)
    }


def stats(cfg: StatsConfig) -> StageResult:
    """Analyse a reader-study export and write ``OUT/stats.json`` plus PNG figures."""
    rows = read_responses(cfg.responses, (cfg.scale_min, cfg.scale_max))
    study = build_study(rows, cfg.rater_kind, cfg.reference_group)
    # By default beside the study: RUN/study/export.csv -> RUN/stats.
    out = cfg.out or RunLayout(cfg.responses.resolve().parents[1]).stats
    prepare_output_dir(out, "stats", cfg)
    warnings = list(study.warnings)
    result: dict[str, Any] = {
        "schema": STATS_SCHEMA,
        "input": {
            "path": str(cfg.responses),
            "sha256": sha256_file(cfg.responses),
            "n_rows": len(rows),
        },
        "rater_kind": study.rater_kind,
        "simulated": study.rater_kind == "simulated",
        "rater_kinds_present": study.kinds_present,
        "design": study.design,
        "reference_group": study.reference,
        "groups": list(study.groups),
        "n_raters": len(study.raters),
        "n_items": len(study.items),
        "n_judgements": len(study.choices),
        "excluded_rows": study.excluded_rows,
        "identification": identification(study, cfg),
    }
    result["agreement"] = agreement(study, cfg, warnings)
    result["realism"] = realism(study, cfg)
    if not study.ratings:
        warnings.append("no realism ratings in the responses; realism tests not run")
    # Only a class-conditional study's export has classes; a study-wide one gets no key at all.
    by_class = finding_by_class(
        main_rows(rows, study.rater_kind), study.groups, cfg.conf_level, warnings
    )
    if by_class is not None:
        result["finding_by_class"] = by_class
        atomic_write_text(out / "finding_by_class.csv", findings_csv(by_class))
    result["by_set"] = by_set(
        main_rows(rows, study.rater_kind),
        study.design,
        study.groups,
        study.reference,
        cfg.conf_level,
    )
    mrmc_file = None
    if study.design == "single" and cfg.mrmc_score != "none":
        mrmc_file = study_mrmc(
            main_rows(rows, study.rater_kind),
            reference=study.reference,
            score=cfg.mrmc_score,
            options=MrmcOptions(
                covariance=cfg.mrmc_covariance,
                conf_level=cfg.conf_level,
                margin=cfg.mrmc_margin_auc,
                alpha=cfg.alpha,
            ),
            simulated=study.rater_kind == "simulated",
            out=out,
            source=result["input"],
            warnings=warnings,
        )
    for w in warnings:
        log.warning(w)
    # After the log above: draw_figure logs its own warnings as they happen.
    result["figures"] = _figures(study, result, out, cfg, warnings)
    result["warnings"] = warnings
    write_stats(out / "stats.json", StatsRecord(**result))
    write_manifest(
        out,
        "stats",
        cfg,
        inputs=[cfg.responses],
        seeds=cfg.seed,
        extra={"rater_kind": study.rater_kind, "mrmc": mrmc_file},
    )
    acc = result["identification"]["pooled"]
    kind = "SIMULATED raters" if study.rater_kind == "simulated" else "human raters"
    return StageResult(
        out,
        f"{len(study.raters)} {kind}, accuracy {acc['accuracy']:.1%} "
        f"(chance {study.chance:.0%}) -> {out / 'stats.json'}",
    )
