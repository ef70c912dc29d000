"""The report's MRMC section, from a single-design study analysed by ``radsynth stats``."""

from __future__ import annotations

from pathlib import Path

from fake_export import write_export
from test_mrmc_study import single_rows

from radsynth.cli import main
from radsynth.report.build import render
from radsynth.report.mrmc import mrmc_section


def test_mrmc_section_per_set_comparison_equivalence_planning(tmp_path: Path) -> None:
    run = tmp_path / "run"
    csv = write_export(tmp_path / "e.csv", single_rows(kind="simulated"))
    assert main(["stats", str(csv), "--out", str(run / "stats"), "--n-boot", "50"]) == 0
    sec = mrmc_section(run)
    assert sec is not None and sec.missing is None
    assert "SIMULATED" in sec.callout
    auc, diff, plan = sec.tables
    assert auc["header"] == ["Reader", "step-0001000", "step-0002000"]
    assert auc["rows"][-1][0].startswith("Pooled") and len(auc["rows"]) == 7
    assert diff["rows"][0][0] == "step-0001000 − step-0002000"
    assert {r[0] for r in plan["rows"]} == {"difference", "equivalence"}
    assert len([b for b in sec.bullets if "stated margin" in b]) == 2
    html = render(run)
    assert "ROC analysis across readers and cases" in html


def test_no_section_without_mrmc(tmp_path: Path) -> None:
    assert mrmc_section(tmp_path) is None
