"""The report's generator-by-generator section: shown when the run's synthetic sets come from
two or more generators (set names ``<generator>/step-NNNNNNN``).

One table per topic, a row per set: KID with its bootstrap CI and FID at matched N, overall and
per class, with precision/recall (``radsynth compare-generators``); screen exclusions (Table S1
per set); the audit's two memorization shares; utility AUROC per arm; conditional fidelity;
identification per set, finding agreement per set and class, and the cues readers named
(``radsynth stats``'s ``by_set`` and ``finding_by_class``). It ends with which generator wins
where, by how much (:mod:`radsynth.report.generator_wins`), computed from these numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radsynth.report.generator_data import SetNumbers, read_numbers
from radsynth.report.generator_wins import Metric, number, summary
from radsynth.report.sections import Section, count, fmt, num, pct
from radsynth.utility.sets import set_generator


def _table(caption: str, header: list[str], rows: list[list[Any]], note: str = "") -> dict:
    return {"caption": caption, "header": header, "rows": rows, "note": note}


def _ci(value: Any, low: Any, high: Any, show=fmt) -> str:
    return f"{show(num(value))} ({show(num(low))}-{show(num(high))})"


def _quality(sec: Section, d: SetNumbers, metrics: list[Metric]) -> None:
    if not d.comparison:
        sec.bullets.append("Image quality per set: compare-generators has not run.")
        return
    rows = [
        [
            r.set,
            r.cls,
            count(r.n),
            _ci(r.kid, r.kid_low, r.kid_high, number),
            fmt(r.fid, 2),
            fmt(r.precision),
            fmt(r.recall),
        ]
        for r in d.comparison
    ]
    sec.tables.append(
        _table(
            "Image quality against the real test films, at matched N",
            ["Set", "Class", "N", "KID (95% CI)", "FID", "Precision", "Recall"],
            rows,
            "Every set is scored on the same N images per class (the smallest side), so FID's "
            "small-sample bias is the same for each. KID CI: percentile bootstrap.",
        )
    )
    for cls in dict.fromkeys(r.cls for r in d.comparison):
        kid, fid = Metric(f"KID, {cls}", False, 5), Metric(f"FID, {cls}", False, 2)
        for r in (r for r in d.comparison if r.cls == cls):
            kid.add(r.set, r.kid, r.kid_low, r.kid_high)
            fid.add(r.set, r.fid)
        metrics += [kid, fid]
    for key in ("precision", "recall"):
        m = Metric(f"{key}, all", True)
        for r in (r for r in d.comparison if r.cls == "all"):
            m.add(r.set, getattr(r, key))
        metrics.append(m)


def _screen(sec: Section, d: SetNumbers, sets: list[str], metrics: list[Metric]) -> None:
    mine = [s for s in sets if s in d.screen]
    if not mine:
        return
    m = Metric("share excluded by the screen", False)
    rows = []
    for s in mine:
        r = d.screen[s]
        gen, exc = num(r.get("generated")), num(r.get("excluded_by_screen"))
        share = exc / gen if gen else float("nan")
        m.add(s, share)
        rows.append(
            [
                s,
                count(gen),
                count(exc),
                count(r.get("excluded_as_copy")),
                count(r.get("kept")),
                pct(share),
            ]
        )
    metrics.append(m)
    sec.tables.append(
        _table(
            "Screen exclusions per set (Table S1)",
            ["Set", "Generated", "Excluded by screen", "Excluded as copy", "Kept", "Excluded"],
            rows,
        )
    )


def _memorization(sec: Section, d: SetNumbers, sets: list[str], metrics: list[Metric]) -> None:
    mine = [s for s in sets if s in d.memorization]
    if not mine:
        return
    copies = Metric("share of synthetic images that copy a training image", False)
    trained = Metric("share of training images copied", False)
    rows = []
    for s in mine:
        cells = []
        for key, metric in (("synthetic_copies", copies), ("training_images_copied", trained)):
            sh = d.memorization[s][key]
            low, high = sh["ci95"] or (None, None)
            metric.add(s, num(sh["share"]), num(low), num(high))
            cells.append(f"{sh['count']:,} / {sh['n']:,}: {_ci(sh['share'], low, high, pct)}")
        rows.append([s, *cells])
    metrics += [copies, trained]
    sec.tables.append(
        _table(
            "The audit's two memorization shares per set",
            ["Set", "Synthetic images that are copies", "Training images copied"],
            rows,
            "95% Wilson CIs. A copy: flagged by the audit and not overruled by reviewers.",
        )
    )


def _utility(sec: Section, d: SetNumbers, sets: list[str], metrics: list[Metric]) -> None:
    arms = [a for a in (d.utility or {}).get("arms", []) if a.get("set") in sets]
    if not arms:
        return
    by_arm: dict[str, Metric] = {}
    rows = []
    for a in arms:
        kind = a["arm"].split(":")[0]
        metric = by_arm.setdefault(kind, Metric(f"utility AUROC, {kind} arm", True))
        metric.add(a["set"], num(a["auroc"]), num(a["delong_low"]), num(a["delong_high"]))
        diff = a["diff_vs_real"]
        rows.append(
            [
                a["set"],
                kind,
                f"{a['n_real']} / {a['n_synthetic']}",
                _ci(a["auroc"], a["delong_low"], a["delong_high"]),
                f"{fmt(diff)} (p = {a['p_vs_real']})" if diff != "" else "",
            ]
        )
    metrics += list(by_arm.values())
    real = next((a for a in d.utility["arms"] if a["arm"] == "real"), None)
    sec.tables.append(
        _table(
            "Utility: AUROC on real test films of classifiers trained per set",
            ["Set", "Arm", "Real / synthetic images", "AUROC (95% CI)", "vs real-only (p)"],
            rows,
            f"Real-only AUROC {fmt(real['auroc'])}." if real else "",
        )
    )
    fid = [f for f in d.utility.get("conditional_fidelity", []) if f.get("set") in sets]
    for cls in dict.fromkeys(f["class"] for f in fid):
        m = Metric(f"conditional fidelity, {cls}", True)
        for f in (f for f in fid if f["class"] == cls):
            m.add(f["set"], num(f["share"]), num(f["low"]), num(f["high"]))
        metrics.append(m)
    if fid:
        sec.tables.append(
            _table(
                "Conditional fidelity: images the real-only classifier assigns to their class",
                ["Set", "Class", "Images", "Shows its class (95% CI)"],
                [[f["set"], f["class"], f["n"], _ci(f["share"], f["low"], f["high"])] for f in fid],
            )
        )


def _identification(sec: Section, d: SetNumbers, sets: list[str], metrics: list[Metric]) -> None:
    rows = [r for r in ((d.stats.by_set or {}) if d.stats else {}).get("identification", [])]
    rows = [r for r in rows if r["group"] in sets or r["group"] == d.stats.reference_group]
    if not rows:
        return
    measure = rows[0]["measure"]
    # Accuracy on a synthetic set: lower means readers took its images for real more often.
    m = Metric(f"readers' {measure.replace('_', ' ')} per set", measure == "picked_as_real")
    for r in rows:
        if r["group"] in sets and r["share"] is not None:
            m.add(r["group"], r["share"], r["wilson_low"], r["wilson_high"])
    metrics.append(m)
    what = {"accuracy": "told correctly", "picked_as_real": "picked as the real film"}[measure]
    sec.tables.append(
        _table(
            "Reader study: identification per set",
            ["Set", f"Judgements {what}", "Share (95% CI)"],
            [
                [
                    r["group"],
                    f"{r['k']:,} / {r['n']:,}",
                    _ci(r["share"], r["wilson_low"], r["wilson_high"], pct),
                ]
                for r in rows
            ],
            "Wilson CIs over all judgements, descriptive (one reader's answers are correlated).",
        )
    )


def _findings(sec: Section, d: SetNumbers, sets: list[str], metrics: list[Metric]) -> None:
    by_class = (d.stats.finding_by_class or {}) if d.stats else {}
    shares = [
        s for s in by_class.get("shares", []) if s["group"] in (*sets, d.stats.reference_group)
    ]
    if shares:
        for cls in dict.fromkeys(s["class"] for s in shares):
            m = Metric(f"readers see the finding, {cls}", True)
            for s in (s for s in shares if s["class"] == cls and s["group"] in sets):
                m.add(s["group"], s["share"], s["wilson_low"], s["wilson_high"])
            metrics.append(m)
        sec.tables.append(
            _table(
                "Reader study: finding agreement per set and class",
                ["Set", "Class", "Shows its finding", "Share (95% CI)"],
                [
                    [
                        s["group"],
                        s["class"],
                        f"{s['yes']:,} / {s['n']:,}",
                        _ci(s["share"], s["wilson_low"], s["wilson_high"], pct),
                    ]
                    for s in shares
                ],
            )
        )
    cues = ((d.stats.by_set or {}) if d.stats else {}).get("cues", {})
    rows = [
        [g, "; ".join(f"{c['cue']} ({c['count']})" for c in cues[g][:5])]
        for g in (*sets, d.stats.reference_group if d.stats else "")
        if g in cues
    ]
    if rows:
        sec.tables.append(
            _table("Cues readers named per set (five most frequent)", ["Set", "Cues"], rows)
        )


def generators(run: Path) -> Section | None:
    """The section, or None unless the run's sets come from two or more generators."""
    d = read_numbers(run)
    sets = d.set_names()
    if len({set_generator(s) for s in sets} - {None}) < 2:
        return None
    sec = Section(
        "generators",
        "Generator by generator",
        f"The run holds {len(sets)} synthetic sets from "
        f"{len({set_generator(s) for s in sets} - {None})} generators "
        f"({', '.join(sets)}). Each table compares them on one question.",
    )
    sec.bullets += d.notes
    metrics: list[Metric] = []
    _quality(sec, d, metrics)
    _screen(sec, d, sets, metrics)
    _memorization(sec, d, sets, metrics)
    _utility(sec, d, sets, metrics)
    _identification(sec, d, sets, metrics)
    _findings(sec, d, sets, metrics)
    paragraph, lines = summary(metrics)
    sec.paragraphs.append(paragraph)
    sec.bullets += lines
    sec.headline = paragraph
    return sec
