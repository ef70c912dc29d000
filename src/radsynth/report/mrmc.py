"""The report's MRMC section, from ``RUN/stats/mrmc.json``: per synthetic set the AUC of telling
real from synthetic per reader and pooled, the comparison of sets, the equivalence statement
and the planning table. Simulated readers stay labelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radsynth.errors import RadsynthError
from radsynth.layout import RunLayout
from radsynth.records.mrmc import MrmcRecord, read_mrmc
from radsynth.report.sections import Section, fmt, fmt_p, p_clause


def _auc_table(a: dict[str, Any]) -> dict[str, Any]:
    auc = {(r["modality"], r["reader"]): r for r in a["auc"]}
    mods = a["modalities"]
    rows = [
        [
            r,
            *(
                f"{fmt(auc[(m, r)]['auc'])} ({fmt(auc[(m, r)]['ci_low'])}-"
                f"{fmt(auc[(m, r)]['ci_high'])})"
                for m in mods
            ),
        ]
        for r in a["readers"]
    ]
    cis = {c["modality"]: c for c in a["rrrc"]["modality_cis"]}
    rows.append(
        [
            "Pooled (readers and cases random)",
            *(
                f"{fmt(cis[m]['auc'])} ({fmt(cis[m]['ci_low'])}-{fmt(cis[m]['ci_high'])})"
                for m in mods
            ),
        ]
    )
    level = f"{a['conf_level']:.0%}"
    return {
        "caption": f"AUC for telling real from synthetic, per reader and pooled ({level} CI)",
        "header": ["Reader", *mods],
        "rows": rows,
        "note": "AUC 0.5: readers rate real and synthetic images alike; 1: they always rate "
        "the real image as more real. A reader's interval treats the cases as random and that "
        "reader as fixed; the pooled one treats both as random.",
    }


def _comparison(sec: Section, a: dict[str, Any]) -> None:
    res = a["rrrc"]
    if res["test"] is None:
        sec.paragraphs.append("One synthetic set: no comparison between sets.")
        return
    t = res["test"]
    sec.paragraphs.append(
        f"Comparing the sets with readers and cases both random (Obuchowski-Rockette with "
        f"Hillis degrees of freedom): F({t['df1']:g}, {fmt(t['df2'], 1)}) = "
        f"{fmt(t['statistic'], 2)}, "
        f"{p_clause(t['p_value'])}."
    )
    rows = [
        [
            f"{d['first']} − {d['second']}",
            fmt(d["estimate"]),
            f"{fmt(d['ci_low'])} to {fmt(d['ci_high'])}",
            fmt_p(d["p_value"]),
        ]
        for d in res["differences"]
    ]
    sec.tables.append(
        {
            "caption": "Difference in AUC between synthetic sets",
            "header": ["Sets", "Difference", f"{a['conf_level']:.0%} CI", "p"],
            "rows": rows,
            "note": "",
        }
    )


def _equivalence(sec: Section, a: dict[str, Any]) -> None:
    for e in a["equivalence"]:
        lo, hi = 0.5 - e["margin"], 0.5 + e["margin"]
        if e["equivalent"]:
            verdict = "so readers could not tell these images from real ones"
        else:
            verdict = "so equivalence to chance is not shown"
        sec.bullets.append(
            f"{e['modality']}: AUC {fmt(e['auc'])}, {e['ci_level']:.0%} CI {fmt(e['ci_low'])} "
            f"to {fmt(e['ci_high'])}, {'inside' if e['equivalent'] else 'not inside'} the "
            f"stated margin {fmt(lo)}-{fmt(hi)}, {verdict}."
        )


def _planning(a: dict[str, Any]) -> dict[str, Any]:
    p = a["planning"]
    rows = [
        [
            r["goal"],
            r["n_readers"],
            "out of reach" if r["n_pos"] is None else r["n_pos"],
            "–" if r["n_neg"] is None else r["n_neg"],
        ]
        for r in p["rows"]
    ]
    return {
        "caption": f"Readers and cases for {p['target_power']:.0%} power in a future study",
        "header": ["Goal", "Readers", "Real images", "Synthetic images per set"],
        "rows": rows,
        "note": f"Difference: an AUC difference of {p['difference']:g} between sets. "
        f"Equivalence: AUC within 0.5 ± {p['margin']:g}, if readers truly cannot tell.",
    }


def mrmc_section(run: Path) -> Section | None:
    """The section, or None when the run has no MRMC analysis (e.g. a quartet study)."""
    path = RunLayout(run).stats_mrmc
    if not path.is_file():
        return None
    sec = Section(
        "mrmc",
        "Reader study: ROC analysis across readers and cases",
        "How well each reader's realism scores separate real from synthetic images (AUC), "
        "allowing for differences between readers and between images.",
    )
    try:
        rec: MrmcRecord = read_mrmc(path)
    except RadsynthError as err:
        sec.missing = f"stats/mrmc.json is not a radsynth MRMC file: {err}"
        return sec
    if rec.simulated:
        sec.callout = (
            "These results come from SIMULATED readers. They check the analysis, not how "
            "realistic the images look to clinicians."
        )
    a = rec.analysis
    sec.paragraphs.append(
        f"Score: {rec.score}. {len(a['readers'])} readers; design {a['design']} (the real "
        "images are shared by every synthetic set)."
    )
    sec.tables.append(_auc_table(a))
    _comparison(sec, a)
    _equivalence(sec, a)
    sec.tables.append(_planning(a))
    sec.bullets.extend(rec.warnings)
    return sec
