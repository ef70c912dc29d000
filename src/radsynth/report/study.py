"""The reader-study section of the report, written from ``RUN/stats/stats.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radsynth.errors import RadsynthError
from radsynth.layout import RunLayout
from radsynth.records.stats import StatsRecord, read_stats
from radsynth.report import figures
from radsynth.report.sections import Section, fmt, fmt_p, p_clause, pct
from radsynth.stats.plots import conf_label


def _level(record: dict[str, Any]) -> str:
    """The confidence level a stats.json record was computed at, e.g. "90% " (with a space)."""
    level = record.get("conf_level")
    return f"{conf_label(level)} " if isinstance(level, int | float) else ""


def _identification(sec: Section, res: StatsRecord) -> None:
    ident = res.identification
    pooled, test, boot = ident["pooled"], ident["binomial_test"], ident["bootstrap"]
    task = (
        "pick the real radiograph from a set of " + str(round(1 / ident["chance"])) + " images"
        if res.design == "quartet"
        else "say whether each single image was real"
    )
    who = "SIMULATED raters" if res.simulated else "Readers"
    sec.headline = (
        f"{who} found the real image in {pct(pooled['accuracy'])} of "
        f"{pooled['n']:,} judgements; chance alone gives {pct(ident['chance'], 0)} "
        f"({p_clause(test['p_value'])})."
    )
    sec.paragraphs.append(
        f"Raters were asked to {task}. They were right in {pct(pooled['accuracy'])} of "
        f"{pooled['n']:,} judgements ({_level(pooled)}CI {pct(pooled['wilson_low'])} to "
        f"{pct(pooled['wilson_high'])}); guessing alone would be right {pct(ident['chance'], 0)} "
        f"of the time. Exact binomial test against chance: {p_clause(test['p_value'])}."
    )
    sec.paragraphs.append(
        f"Allowing for differences between raters and between cases (resampling both), the "
        f"accuracy could plausibly lie between {pct(boot['low'])} and {pct(boot['high'])}. "
        "A result that is not significantly above chance does not prove the images are "
        "indistinguishable: read the upper end of this range as the best detection rate the "
        "data cannot rule out."
    )
    rows = [
        [
            r["rater"],
            f"{r['correct']:,} / {r['n']:,}",
            pct(r["accuracy"]),
            f"{pct(r['wilson_low'])} – {pct(r['wilson_high'])}",
        ]
        for r in ident["per_rater"]
    ]
    sec.tables.append(
        {
            "caption": "Identification accuracy per rater",
            "header": ["Rater", "Correct / answered", "Accuracy", f"{_level(pooled)}CI (Wilson)"],
            "rows": rows,
            "note": f"Chance level: {pct(ident['chance'], 0)}.",
        }
    )


def _agreement(sec: Section, res: StatsRecord) -> None:
    agr = res.agreement
    if not agr.get("fleiss"):
        return
    k, boot = agr["fleiss"]["kappa"], agr["bootstrap"]
    sec.paragraphs.append(
        f"Agreement between raters on which image was real: Fleiss' kappa {fmt(k)} "
        f"({_level(boot)}CI "
        f"{fmt(boot['fleiss_low'])} to {fmt(boot['fleiss_high'])}; free-marginal kappa "
        f"{fmt(agr['randolph_kappa'])}), over {agr['n_items']:,} cases answered by every rater. "
        "Kappa is 1 when raters always agree and 0 when they agree no more than chance "
        "(negative: less than chance); values below 0.2 are conventionally read as slight or "
        "no agreement (Landis & Koch 1977)."
    )


def _realism(sec: Section, res: StatsRecord) -> None:
    real = res.realism
    if not real["group_means"]:
        return
    lo, hi = real["scale"]
    tests = {t["group"]: t for t in real["wilcoxon"]}
    tost = {t["group"]: t for t in real["tost"]}
    rows = []
    for g in res.groups:
        m = real["group_means"].get(g)
        if m is None:
            continue
        t, e = tests.get(g), tost.get(g)
        rows.append(
            [
                g + (" (reference)" if g == res.reference_group else ""),
                fmt(m["mean"]),
                f"{m['n_ratings']:,}",
                fmt_p(t["p_value"]) if t else "–",
                fmt_p(t["p_holm"]) if t else "–",
                _diff(e),
                ("yes" if e["equivalent"] else "not shown") if e else "–",
            ]
        )
    margin = next(iter(tost.values()))["margin"] if tost else None
    # The TOST's interval is the (1 - 2 alpha) one (90% at alpha = 0.05), not conf_level's.
    alpha = next(iter(tost.values()))["alpha"] if tost else 0.05
    tost_level = conf_label(1 - 2 * alpha)
    significant = [g for g, t in tests.items() if t["p_holm"] is not None and t["p_holm"] < 0.05]
    equivalent = [g for g, e in tost.items() if e["equivalent"]]
    if tests:
        sec.paragraphs.append(
            (
                "After correction for several comparisons, realism ratings differed from real "
                f"images for: {', '.join(significant)}. "
                if significant
                else "After correction for several comparisons, no synthetic group was rated "
                "significantly differently from the real images. "
            )
            + (
                f"Equivalence within ±{fmt(margin, 2)} rating points was shown for: "
                f"{', '.join(equivalent)}."
                if equivalent
                else f"Equivalence within ±{fmt(margin, 2)} rating points could not be shown "
                "for any group, so 'no significant difference' must not be read as "
                "'equally realistic'."
            )
        )
    note = (
        f"Ratings from {lo} (clearly artificial) to {hi} (fully realistic). p: paired "
        "two-sided Wilcoxon signed-rank test of each rater's mean real-image rating against "
        "their mean rating of that group; Holm: corrected for testing several groups. "
        "Difference: real minus synthetic, mean over raters, with "
        f"{tost_level} CI."
    )
    if margin is not None:
        note += (
            f" Equivalent: the {tost_level} CI lies within ±{fmt(margin, 2)} rating points (paired "
            "t TOST, Schuirmann 1987); 'not shown' means the data cannot establish it."
        )
    sec.tables.append(
        {
            "caption": "Realism ratings by group",
            "rows": rows,
            "note": note,
            "header": [
                "Group",
                "Mean rating",
                "Ratings",
                "p",
                "p (Holm)",
                f"Difference vs real ({tost_level} CI)",
                "Equivalent?",
            ],
        }
    )


def _finding_by_class(sec: Section, res: StatsRecord) -> None:
    """Per class: how often readers said an image shows its own class's finding."""
    fc = res.finding_by_class
    if not fc:
        return
    tests = {(t["class"], t["group"]): t for t in fc["wilcoxon"]}
    rows = []
    for s in fc["shares"]:
        t = tests.get((s["class"], s["group"]))
        rows.append(
            [
                s["class"],
                s["group"] + (" (reference)" if s["group"] == res.reference_group else ""),
                f"{pct(s['share'])} ({s['yes']:,} / {s['n']:,})",
                f"{pct(s['wilson_low'])} – {pct(s['wilson_high'])}",
                fmt_p(t["p_value"]) if t else "–",
                fmt_p(t["p_holm"]) if t else "–",
            ]
        )
    level = _level(fc["shares"][0]) if fc["shares"] else ""
    differ = [
        f"{t['class']} ({t['group']})"
        for t in fc["wilcoxon"]
        if t["p_holm"] is not None and t["p_holm"] < 0.05
    ]
    sec.paragraphs.append(
        "Each image was also asked about the finding of its own class (the class a synthetic "
        "image was generated for, the labelled class of a real film). "
        + (
            "After correction for several comparisons, readers saw their class's finding at a "
            f"different rate in synthetic than in real images for: {', '.join(differ)}."
            if differ
            else "After correction for several comparisons, no class showed a "
            "significant difference between real and synthetic images; with few readers this "
            "test has little power, so read the shares and their intervals."
        )
    )
    sec.tables.append(
        {
            "caption": "Does the image show its class's finding? Share of 'yes' by class",
            "header": ["Class", "Group", "'Yes'", f"{level}CI (Wilson)", "p", "p (Holm)"],
            "rows": rows,
            "note": "p: paired two-sided Wilcoxon signed-rank test of each reader's share of 'yes' "
            "for real images of the class against their share for that synthetic group; Holm: "
            "corrected over all classes and groups tested. The intervals treat judgements as "
            "independent and are descriptive.",
        }
    )


def _diff(e: dict[str, Any] | None) -> str:
    if not e:
        return "–"
    return f"{fmt(e['mean_difference'])} ({fmt(e['ci_low'])} to {fmt(e['ci_high'])})"


def study(run: Path) -> Section:
    sec = Section(
        "study",
        "Reader study (clinical Turing test)",
        "Readers looked at real and synthetic radiographs without being told which was which.",
    )
    stats_dir, path = RunLayout(run).stats, RunLayout(run).stats_json
    if not path.is_file():
        sec.missing = "The reader study has not been analysed yet (no stats/stats.json)."
        return sec
    try:
        res = read_stats(path)
    except RadsynthError as err:
        sec.missing = f"stats/stats.json is not a radsynth stats file: {err}"
        return sec
    if res.simulated:
        sec.callout = (
            "These results come from SIMULATED raters, not people. They check that "
            "the pipeline works and say nothing about how realistic the images look "
            "to clinicians."
        )
        sec.intro = "Simulated raters answered the study in place of human readers."
    sec.paragraphs.append(
        f"{res.n_raters} {res.rater_kind} raters, {res.n_items:,} "
        f"cases, {res.n_judgements:,} judgements."
    )
    _identification(sec, res)
    _agreement(sec, res)
    _realism(sec, res)
    _finding_by_class(sec, res)
    level = _level(res.identification["pooled"])
    captions = {
        "realism_violin": "Realism ratings per group. The width of each shape shows how often "
        "each rating was given; black dots are individual raters' averages and the bar the "
        "overall mean. Similar shapes mean raters found the synthetic images about as "
        "realistic as the real ones.",
        "accuracy_per_rater": "Each rater's share of correctly identified real images, with "
        f"{level}intervals. Points near the dashed chance line mean that rater was guessing.",
    }
    for key, name in res.figures.items():
        png = stats_dir / name
        if png.is_file():
            sec.figures.append(
                {"src": figures.data_uri(png.read_bytes()), "caption": captions.get(key, name)}
            )
    sec.bullets.extend(res.warnings)
    return sec
