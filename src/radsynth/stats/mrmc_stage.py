"""The ``radsynth mrmc`` stage: long-form ratings CSV in; ``mrmc.json``, ``mrmc.md`` and
``mrmc_auc.csv`` out, with the resolved config and a manifest.

Everything is read, checked and analysed before the output folder is made, so a bad input
leaves nothing behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from radsynth.config import arg
from radsynth.io import read_csv_rows
from radsynth.records._csv import write_csv
from radsynth.records.mrmc import MrmcRecord, write_mrmc
from radsynth.stage import (
    StageResult,
    atomic_write_text,
    prepare_output_dir,
    sha256_file,
    write_manifest,
)
from radsynth.stats.mrmc_analysis import MrmcOptions, analyse
from radsynth.stats.mrmc_design import Columns, build_data, parse_rows
from radsynth.stats.mrmc_table import AUC_COLUMNS, auc_rows, markdown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MrmcConfig:
    """Multi-reader multi-case ROC analysis (Obuchowski-Rockette, Hillis ddf) of ratings."""

    ratings: Path = arg(help="long-form CSV: one row per reader x modality x case", positional=True)
    out: Path = arg(help="output folder", positional=True)
    reader_column: str = arg("reader", help="column naming the reader")
    modality_column: str = arg("modality", help="column naming the modality (e.g. generator)")
    case_column: str = arg("case", help="column naming the case (same name = same case)")
    truth_column: str = arg("truth", help="column with 1 for cases to rank high, else 0")
    rating_column: str = arg("rating", help="column with the numeric rating")
    allow_missing: bool = arg(
        False, help="drop (and name) readers who did not rate every case, instead of refusing"
    )
    covariance: Literal["jackknife", "delong"] = arg("jackknife", help="AUC covariance estimator")
    compare: bool = arg(True, help="compare modalities (--no-compare: one modality allowed)")
    conf_level: float = arg(0.95, help="confidence level of the OR intervals")
    equivalence_margin_auc: float = arg(
        0.1, help="equivalence margin around AUC 0.5 (state it before the study)"
    )
    alpha: float = arg(0.05, help="level of each one-sided equivalence test (CI 1 - 2 alpha)")
    planning_power: float = arg(0.8, help="target power of the planning table")
    planning_difference_auc: float = arg(0.05, help="AUC difference the plan should detect")
    simulated: bool = arg(False, help="the readers are simulated (labelled so in every output)")

    def __post_init__(self) -> None:
        if not 0 < self.conf_level < 1 or not 0 < self.alpha < 0.5:
            raise ValueError("conf_level must lie in (0, 1) and alpha in (0, 0.5)")
        if not 0 < self.equivalence_margin_auc < 0.5:
            raise ValueError("equivalence_margin_auc must lie in (0, 0.5)")
        if not 0 < self.planning_power < 1 or not 0 < self.planning_difference_auc < 1:
            raise ValueError("planning_power and planning_difference_auc must lie in (0, 1)")

    def options(self) -> MrmcOptions:
        """The analysis options of this config."""
        return MrmcOptions(
            covariance=self.covariance,
            conf_level=self.conf_level,
            margin=self.equivalence_margin_auc,
            alpha=self.alpha,
            compare=self.compare,
            planning_power=self.planning_power,
            planning_difference=self.planning_difference_auc,
        )


def write_outputs(
    out: Path,
    analysis: dict[str, Any],
    *,
    source: dict[str, Any],
    score: str,
    simulated: bool,
    dropped: dict[str, str],
    title: str,
) -> MrmcRecord:
    """Write ``mrmc.json``, ``mrmc.md`` and ``mrmc_auc.csv`` of an analysis (from
    :func:`radsynth.stats.mrmc_analysis.analyse`) into the existing folder ``out``."""
    warnings = [f"reader {r} left out: did not rate {w}" for r, w in dropped.items()]
    if simulated:
        warnings.append("SIMULATED readers: the analysis checks the pipeline, not realism")
    record = MrmcRecord(
        input=source,
        score=score,
        simulated=simulated,
        dropped_readers=dropped,
        analysis=analysis,
        warnings=warnings,
    )
    write_csv(out / "mrmc_auc.csv", AUC_COLUMNS, auc_rows(analysis))
    atomic_write_text(
        out / "mrmc.md", markdown(analysis, title=title, simulated=simulated, dropped=dropped)
    )
    write_mrmc(out / "mrmc.json", record)
    return record


def _num(x: float | None, digits: int) -> str:
    return "undefined" if x is None else f"{x:.{digits}f}"


def mrmc(cfg: MrmcConfig) -> StageResult:
    """Run the MRMC analysis of a long-form ratings CSV into ``cfg.out``."""
    cols = Columns(
        cfg.reader_column, cfg.modality_column, cfg.case_column, cfg.truth_column, cfg.rating_column
    )
    records = read_csv_rows(cfg.ratings, "ratings file", required=tuple(vars(cols).values()))
    data, dropped = build_data(
        parse_rows(records, cols), allow_missing=cfg.allow_missing, need_comparison=cfg.compare
    )
    analysis = analyse(data, cfg.options())  # any refusal happens before the folder exists
    prepare_output_dir(cfg.out, "mrmc", cfg)
    source = {"path": str(cfg.ratings), "sha256": sha256_file(cfg.ratings), "n_rows": len(records)}
    record = write_outputs(
        cfg.out,
        analysis,
        source=source,
        score=cfg.rating_column,
        simulated=cfg.simulated,
        dropped=dropped,
        title="MRMC ROC analysis",
    )
    for w in record.warnings:
        log.warning(w)
    write_manifest(cfg.out, "mrmc", cfg, inputs=[cfg.ratings], extra={"design": analysis["design"]})
    test = record.analysis["rrrc"]["test"]
    summary = (
        f"F({test['df1']:g}, {_num(test['df2'], 2)}) = {_num(test['statistic'], 3)}, "
        f"p = {_num(test['p_value'], 4)}"
        if test
        else "one modality"
    )
    return StageResult(
        cfg.out, f"{len(data.readers)} readers, {summary} -> {cfg.out / 'mrmc.json'}"
    )
