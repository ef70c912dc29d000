"""Readable tables of an MRMC analysis: ``mrmc.md`` (Markdown) and ``mrmc_auc.csv``."""

from __future__ import annotations

from typing import Any

AUC_COLUMNS = ("modality", "reader", "auc", "ci_low", "ci_high", "ci")


def _f(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _p(x: float | None) -> str:  # None: not defined (e.g. every rating tied)
    return "-" if x is None else ("<0.0001" if x < 1e-4 else f"{x:.4f}")


def auc_rows(analysis: dict[str, Any]) -> list[dict[str, object]]:
    """One row per reader x modality, then each modality's mean with its RRRC interval."""
    level = f"{analysis['conf_level']:.0%}"
    rows: list[dict[str, object]] = [
        {k: row[k] for k in ("modality", "reader", "auc", "ci_low", "ci_high")} | {"ci": level}
        for row in analysis["auc"]
    ]
    for ci in analysis["rrrc"]["modality_cis"]:
        rows.append(
            {
                "modality": ci["modality"],
                "reader": "mean (random readers, random cases)",
                "auc": ci["auc"],
                "ci_low": ci["ci_low"],
                "ci_high": ci["ci_high"],
                "ci": level,
            }
        )
    return rows


def _auc_table(a: dict[str, Any]) -> list[str]:
    readers, mods = a["readers"], a["modalities"]
    auc = {(r["modality"], r["reader"]): r for r in a["auc"]}
    lines = ["| reader | " + " | ".join(mods) + " |", "|---" * (len(mods) + 1) + "|"]
    lines += [
        f"| {r} | "
        + " | ".join(
            f"{_f(auc[(m, r)]['auc'])} ({_f(auc[(m, r)]['ci_low'])}, {_f(auc[(m, r)]['ci_high'])})"
            for m in mods
        )
        + " |"
        for r in readers
    ]
    cis = {c["modality"]: c for c in a["rrrc"]["modality_cis"]}
    lines.append(
        f"| **mean ({a['conf_level']:.0%} CI)** | "
        + " | ".join(
            f"{_f(cis[m]['auc'])} ({_f(cis[m]['ci_low'])}, {_f(cis[m]['ci_high'])})" for m in mods
        )
        + " |"
    )
    return lines


def _tests(a: dict[str, Any]) -> list[str]:
    lines = ["| analysis | statistic | df | p | difference | CI |", "|---|---|---|---|---|---|"]
    for key, name in (("rrrc", "F"), ("frrc", "chi-square"), ("rrfc", "F")):
        res = a[key]
        t = res["test"]
        if t is None:
            continue
        df = f"{t['df1']:g}" + ("" if key == "frrc" else f", {_f(t['df2'], 2)}")
        for d in res["differences"]:
            lines.append(
                f"| {res['kind']} | {name} = {_f(t['statistic'], 3)} | {df} | {_p(t['p_value'])} "
                f"| {d['first']} - {d['second']}: {_f(d['estimate'])} "
                f"| ({_f(d['ci_low'])}, {_f(d['ci_high'])}) |"
            )
    return lines


def _equivalence(a: dict[str, Any]) -> list[str]:
    lines = []
    for e in a["equivalence"]:
        verdict = (
            "inside: readers could not tell real from synthetic (equivalent to chance)"
            if e["equivalent"]
            else "not inside: equivalence to chance not shown"
        )
        lines.append(
            f"- {e['modality']}: AUC {_f(e['auc'])}, {e['ci_level']:.0%} CI "
            f"({_f(e['ci_low'])}, {_f(e['ci_high'])}) vs 0.5 +- {e['margin']:g}: {verdict}"
        )
    return lines


def _planning(a: dict[str, Any]) -> list[str]:
    p = a["planning"]
    lines = [
        f"Target power {p['target_power']:.0%}; difference {p['difference']:g} (alpha "
        f"{p['difference_alpha']:g}); equivalence margin {p['margin']:g} (alpha "
        f"{p['equivalence_alpha']:g} each side, true AUC {p['equivalence_true_auc']:g}).",
        "",
        "| goal | readers | truth-1 cases | truth-0 cases per modality | power |",
        "|---|---|---|---|---|",
    ]
    for r in p["rows"]:
        if r["n_pos"] is None:
            lines.append(f"| {r['goal']} | {r['n_readers']} | out of reach | - | - |")
        else:
            lines.append(
                f"| {r['goal']} | {r['n_readers']} | {r['n_pos']} | {r['n_neg']} "
                f"| {_f(r['power'], 3)} |"
            )
    return lines


def markdown(a: dict[str, Any], *, title: str, simulated: bool, dropped: dict[str, str]) -> str:
    """The analysis as a Markdown page."""
    label = " (SIMULATED readers: no evidence of realism)" if simulated else ""
    cases = ", ".join(
        f"{m}: {c['truth_1']} truth-1 + {c['truth_0']} truth-0" for m, c in a["cases"].items()
    )
    out = [
        f"# {title}{label}",
        "",
        f"Design: {a['design']}; covariance: {a['covariance']}; {len(a['readers'])} readers; "
        f"cases {cases}.",
    ]
    if dropped:
        out.append("Readers left out: " + "; ".join(f"{r} ({w})" for r, w in dropped.items()))
    out += ["", "## AUC per reader and modality", "", *_auc_table(a)]
    out += ["", "## Comparison of modalities", "", *_tests(a)]
    if a["dbm"] is not None:
        d = a["dbm"]
        out += [
            "",
            f"DBM cross-check: F = {_f(d['f'], 3)}, ddf = {_f(d['ddf'], 2)}, "
            f"p = {_p(d['p_value'])}.",
        ]
    elif a["dbm_note"]:
        out += ["", a["dbm_note"] + "."]
    out += ["", "## Equivalence to chance (AUC 0.5)", "", *_equivalence(a)]
    out += ["", "## Planning", "", *_planning(a), ""]
    return "\n".join(out)
