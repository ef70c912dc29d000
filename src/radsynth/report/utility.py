"""The report's utility section: AUROC per arm, the ratio curve, conditional fidelity."""

from __future__ import annotations

from pathlib import Path

from radsynth.io import read_json
from radsynth.layout import RunLayout
from radsynth.report.figures import data_uri
from radsynth.report.sections import Section, fmt


def utility(run: Path) -> Section | None:
    """The section, or None when the run has no utility step (an unconditional run)."""
    folder = RunLayout(run).utility
    if not (folder / "utility.json").is_file():
        return None
    record = read_json(folder / "utility.json", "utility results")
    sec = Section(
        "utility",
        "Downstream utility: classifiers trained on synthetic images",
        f"A {record['classifier']['arch']} classifier was trained from scratch on each arm, "
        f"{record['classifier']['seeds']} times with different seeds and the same number of "
        f"steps, and tested on {record['n_test']} real test images from patients the generator "
        f"never saw ({record['n_test_positive']} {record['positive_class']}). AUROC 0.5 is "
        "chance, 1 a perfect ranking.",
    )
    # Files written before several synthetic sets have no "set" key: one set, named "".
    by_set = any(a.get("set") for a in record["arms"])
    header = [
        "Arm",
        *(["Synthetic set"] if by_set else []),
        "Real / synthetic images",
        "AUROC (95% CI, DeLong)",
        "Bootstrap CI",
        "Single seeds",
        "Difference vs real (p)",
    ]
    rows = [
        [
            a["arm"],
            *([a.get("set") or "-"] if by_set else []),
            f"{a['n_real']} / {a['n_synthetic']}",
            f"{fmt(a['auroc'])} ({fmt(a['delong_low'])}-{fmt(a['delong_high'])})",
            f"{fmt(a['boot_low'])}-{fmt(a['boot_high'])}",
            a["seed_aurocs"].replace(";", ", "),
            f"{fmt(a['diff_vs_real'])} (p = {a['p_vs_real']})" if a["diff_vs_real"] != "" else "",
        ]
        for a in record["arms"]
    ]
    sec.tables.append(
        {
            "caption": "AUROC per arm (seed ensemble)",
            "header": header,
            "rows": rows,
            "note": "Bootstrap: patients resampled, 95% percentile "
            "interval. p: DeLong's test for correlated ROC curves.",
        }
    )
    fid = record.get("conditional_fidelity") or []
    if fid:
        sec.tables.append(
            {
                "caption": "Conditional fidelity: synthetic images the real-only "
                "classifier assigns to their intended class",
                "header": [
                    *(["Synthetic set"] if by_set else []),
                    "Class",
                    "Images",
                    "Shows its class (95% CI, Wilson)",
                ],
                "rows": [
                    [
                        *([f.get("set", "")] if by_set else []),
                        f["class"],
                        f["n"],
                        f"{fmt(f['share'])} ({fmt(f['low'])}-{fmt(f['high'])})",
                    ]
                    for f in fid
                ],
                "note": "",
            }
        )
    for name, caption in (
        ("auroc_by_arm.png", "AUROC by arm: ensemble with its CI, and each seed's AUROC in grey."),
        ("roc.png", "ROC curves on test/."),
    ):
        if (folder / name).is_file():
            sec.figures.append({"src": data_uri((folder / name).read_bytes()), "caption": caption})
    real = record["arms"][0]
    best = max(record["arms"], key=lambda a: a["auroc"])
    sec.headline = (
        f"Real-only AUROC {fmt(real['auroc'])}; best arm {best['arm']} {fmt(best['auroc'])}."
    )
    sec.paragraphs.append(sec.headline)
    return sec
