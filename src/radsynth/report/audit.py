"""The report's screening and audit sections: what the screen flagged and what the
memorization audit found, each a :class:`~radsynth.report.sections.Section`."""

from __future__ import annotations

from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.fates.records import TABLE_S1_COLUMNS, read_table_s1
from radsynth.io import read_json
from radsynth.layout import RunLayout
from radsynth.records import read_neighbours, read_pairs
from radsynth.report import figures
from radsynth.report.sections import Section, count, fmt, num, pct, read_csv


def screening(run: Path) -> Section:
    sec = Section(
        "screening",
        "Screening for implausible anatomy",
        "Each synthetic image gets a plausibility score; images past the calibrated "
        "threshold are excluded before any reader sees them.",
    )
    # keep/ is written by `radsynth run`: with reviewers' decisions.
    final = RunLayout(run).fates_table
    if final.is_file() and (rows := read_table_s1(final)):
        return _screening_final(sec, rows)
    path = RunLayout(run).screen_table_s1
    if not path.is_file() or not (rows := read_csv(path)):
        sec.missing = "Screening has not been run (no screen/table_s1.csv)."
        return sec
    body = []
    for r in rows:
        gen, exc = num(r.get("generated")), num(r.get("excluded"))
        body.append(
            [
                r.get("group", ""),
                count(gen),
                count(exc),
                count(r.get("final")),
                pct(exc / gen if gen else float("nan")),
            ]
        )
    groups = [r for r in rows if str(r.get("group", "")).lower() != "total"]
    gen_all = sum(num(r.get("generated")) for r in groups)
    exc_all = sum(num(r.get("excluded")) for r in groups)
    if gen_all:
        sec.headline = (
            f"Screening excluded {count(exc_all)} of {count(gen_all)} synthetic "
            f"images ({pct(exc_all / gen_all)}) as anatomically implausible."
        )
    sec.tables.append(
        {
            "caption": "Images generated, excluded and kept per checkpoint",
            "header": ["Checkpoint", "Generated", "Excluded", "Kept", "Excluded (%)"],
            "rows": body,
            "note": "",
        }
    )
    return sec


def _screening_final(sec: Section, rows: list[dict[str, str]]) -> Section:
    """Table S1 as the pipeline applied it: screen, reviewers' overrides, agreed copies."""
    keys = TABLE_S1_COLUMNS[1:]  # after "group"
    body = [[r.get("group", ""), *(count(r.get(k)) for k in keys)] for r in rows]
    total = next((r for r in rows if r.get("group") == "total"), None)
    if total and num(total.get("generated")):
        gen, kept = num(total.get("generated")), num(total.get("kept"))
        sec.headline = (
            f"Of {count(gen)} synthetic images, {count(kept)} ({pct(kept / gen)}) went on to the "
            f"reader study: the screen excluded {count(total.get('excluded_by_screen'))}, "
            f"reviewers overrode {count(total.get('overridden_by_reviewer'))} automatic "
            f"decisions and {count(total.get('excluded_as_copy'))} were excluded as copies."
        )
        carried = num(total.get("flagged_by_screen")) - num(total.get("excluded_by_screen"))
        if carried > 0:  # keep: all carries flagged images on, and the headline says so
            sec.headline += (
                f" The screen flagged {count(total.get('flagged_by_screen'))}; {count(carried)} "
                "of them were carried on unexcluded (`keep: all`)."
            )
    sec.tables.append(
        {
            "caption": "Table S1. Images generated, excluded and kept per checkpoint",
            "header": [
                "Checkpoint",
                "Generated",
                "Flagged by screen",
                "Excluded by screen",
                "Overridden by reviewer",
                "Excluded as copy",
                "Kept",
            ],
            "rows": body,
            "note": "Overridden: a reviewer kept a flagged image or excluded a passed "
            "one. Excluded as copy: reviewers agreed the image copies a training "
            "image (counted among images otherwise kept).",
        }
    )
    return sec


def _audit_dirs(run: Path) -> dict[str, Path] | None:
    """The folders pairs.csv paths are relative to, as the audit recorded them in its
    config.json (``synthetic`` and ``train``); None when it does not name them."""
    try:
        cfg = read_json(RunLayout(run).audit / "config.json")
    except RadsynthError:
        return None
    if not isinstance(cfg, dict) or not all(
        isinstance(cfg.get(k), str) for k in ("synthetic", "train")
    ):
        return None
    return {"synthetic": Path(cfg["synthetic"]), "train": Path(cfg["train"])}


def audit(run: Path, n_pairs: int = 8) -> Section:
    sec = Section(
        "audit",
        "Memorisation audit",
        "For every synthetic image we found the most similar training image. A very "
        "high similarity can mean the model copied a patient's radiograph.",
    )
    path = RunLayout(run).audit_pairs
    if not path.is_file():
        sec.missing = "The memorisation audit has not been run (no audit/pairs.csv)."
        return sec
    rows = read_pairs(path)
    dirs = _audit_dirs(run)
    if dirs is None:
        sec.bullets.append(
            "Pair images are not shown: audit/config.json does not name the folders the audit read."
        )
    everyone = RunLayout(run).audit_neighbours
    audited = read_neighbours(everyone) if everyone.is_file() else rows
    flagged = sum(r.flagged for r in audited)
    scope = "audited synthetic images" if everyone.is_file() else "most similar pairs listed"
    sec.headline = (
        f"{flagged:,} of {len(audited):,} {scope} were flagged as possible copies "
        "of a training image."
    )
    sec.paragraphs.append(sec.headline)
    body = []
    for r in rows[:n_pairs]:
        body.append(
            [
                count(r.rank),
                Path(r.synthetic).name,
                Path(r.train).name,
                fmt(r.similarity, 3),
                pct(r.percentile / 100),  # percentiles are 0-100
                "yes" if r.flagged else "no",
            ]
        )
        syn = dirs["synthetic"] / r.synthetic if dirs else None
        train = dirs["train"] / r.train if dirs else None
        if syn and train and syn.is_file() and train.is_file():
            sec.figures.append(
                {
                    "src": figures.data_uri(figures.pair_strip(syn, train)),
                    "caption": f"Pair {r.rank}: synthetic (left) and its "
                    f"nearest training image (right), similarity "
                    f"{fmt(r.similarity, 3)}"
                    f"{' — flagged' if r.flagged else ''}.",
                }
            )
    sec.tables.append(
        {
            "caption": f"The {len(body)} most similar pairs",
            "header": [
                "Rank",
                "Synthetic image",
                "Nearest training image",
                "Similarity",
                "Percentile",
                "Flagged",
            ],
            "rows": body,
            "note": "Percentile: where this similarity falls among similarities "
            "between different real patients; near 100% means closer than almost "
            "any two distinct patients.",
        }
    )
    return sec
