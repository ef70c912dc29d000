"""One function per report section. Each reads its part of the run folder and returns a
:class:`Section`; a missing input gives a short "not run" note instead of an error.

Captions are written for clinicians: what the figure shows and how to read it, in plain words.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.data.imageio import list_images
from radsynth.report import figures


@dataclass
class Section:
    """What the template draws for one section."""

    id: str
    title: str
    intro: str = ""
    missing: str | None = None  # set when the stage has not been run
    callout: str | None = None  # a prominent warning (e.g. simulated raters)
    paragraphs: list[str] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)  # src, caption
    tables: list[dict[str, Any]] = field(default_factory=list)  # caption, header, rows, note
    bullets: list[str] = field(default_factory=list)
    headline: str | None = None  # one line for the "at a glance" summary


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts (a BOM from spreadsheet exports is ignored)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: thousands separators for counts, fixed decimals otherwise."""
    x = _num(value)
    if not np.isfinite(x):
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{x:.{digits}f}"


def count(value: Any) -> str:
    """A whole number with thousands separators, or a dash when missing."""
    x = _num(value)
    return f"{int(round(x)):,}" if np.isfinite(x) else "–"


def fmt_p(p: Any) -> str:
    """A p-value as clinicians read it: three decimals, or "< 0.001"."""
    x = _num(p)
    if not np.isfinite(x):
        return "not defined"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def p_clause(p: Any) -> str:
    """A p-value inside a sentence: "p = 0.123" or "p < 0.001"."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def pct(x: Any, digits: int = 1) -> str:
    return "–" if not np.isfinite(_num(x)) else f"{100 * _num(x):.{digits}f}%"


def chosen_steps(run: Path) -> list[int]:
    path = run / "checkpoints.json"
    if not path.is_file():
        return []
    try:
        return [int(s) for s in json.loads(path.read_text()).get("chosen", [])]
    except (ValueError, TypeError, AttributeError, json.JSONDecodeError):
        return []


def training(run: Path) -> Section:
    sec = Section(
        "training",
        "Training progress",
        "How well the model learned to remove noise from training images, step by step.",
    )
    losses = run / "train" / "losses.csv"
    png = run / "train" / "loss_curves.png"
    if losses.is_file() and (rows := read_csv(losses)):
        step = np.array([_num(r.get("step")) for r in rows])
        series = {name: (step, np.array([_num(r.get(col)) for r in rows]))
                  for name, col in (("training loss", "train_loss"),
                                    ("validation loss", "val_loss"))}  # fmt: skip
        src = figures.data_uri(figures.line_plot(series, "training step", "loss (MSE)",
                                                 "Loss curves", log_y=True,
                                                 marks=chosen_steps(run)))  # fmt: skip
        val = [(x, _num(r.get("val_loss"))) for x, r in zip(step, rows, strict=True)]
        val = [(x, v) for x, v in val if np.isfinite(v)]
        if val:
            sec.headline = (f"Training ran to step {int(step.max()):,}; the last validation loss "
                            f"was {val[-1][1]:.4f}.")  # fmt: skip
    elif png.is_file():
        src = figures.data_uri(png.read_bytes())
    else:
        sec.missing = "Training has not been run for this folder (no train/losses.csv)."
        return sec
    sec.figures.append(
        {
            "src": src,
            "caption": (
                "Lower is better. The training loss is measured on the images the model learns "
                "from; the validation loss on held-out images it never sees. If the validation "
                "curve rises while the training curve keeps falling, the model is starting to "
                "memorise."
            ),
        }
    )
    return sec


def fid(run: Path) -> Section:
    sec = Section(
        "fid",
        "Image quality across training (FID)",
        "The Fréchet Inception Distance compares the statistics of synthetic and real "
        "images: 0 would mean indistinguishable to the feature network; lower is better.",
    )
    path = run / "fid_sweep" / "fid.csv"
    if not path.is_file() or not (rows := read_csv(path)):
        sec.missing = "The FID sweep has not been run (no fid_sweep/fid.csv)."
        return sec
    rows.sort(key=lambda r: _num(r.get("step")))
    step = np.array([_num(r.get("step")) for r in rows])
    f = np.array([_num(r.get("fid")) for r in rows])
    sec.figures.append(
        {
            "src": figures.data_uri(
                figures.line_plot(
                    {"FID": (step, f)},
                    "training step",
                    "FID (lower is better)",
                    "FID versus training step",
                    marks=chosen_steps(run),
                )
            ),  # fmt: skip
            "caption": "Each point scores one saved checkpoint against the real images.",
        }
    )
    header = ["Step", "FID", "KID (×1000)", "Precision", "Recall", "Real / synthetic images"]
    body = [[count(r.get("step")), fmt(r.get("fid"), 2),
             f"{fmt(1000 * _num(r.get('kid_mean')), 2)} ± {fmt(1000 * _num(r.get('kid_std')), 2)}",
             fmt(r.get("precision"), 3), fmt(r.get("recall"), 3),
             f"{count(r.get('n_real'))} / {count(r.get('n_fake'))}"]
            for r in rows]  # fmt: skip
    sec.tables.append({"caption": "Quality scores per checkpoint", "header": header, "rows": body,
                       "note": "Precision: share of synthetic images that look like real ones "
                       "(fidelity). Recall: share of the real variety the model covers "
                       "(diversity). Both range 0-1; higher is better."})  # fmt: skip
    if np.isfinite(f).any():
        best = int(np.nanargmin(f))
        sec.headline = f"The lowest FID, {f[best]:.2f}, was reached at step {int(step[best]):,}."
        sec.paragraphs.append(sec.headline)
    return sec


def checkpoints(run: Path) -> Section | None:
    path = run / "checkpoints.json"
    if not path.is_file():
        return None
    sec = Section("checkpoints", "Which checkpoints were chosen, and why")
    try:
        data = json.loads(path.read_text())
        steps = ", ".join(f"{int(s):,}" for s in data.get("chosen", []))
    except (ValueError, TypeError, AttributeError, json.JSONDecodeError):
        sec.missing = "checkpoints.json could not be read."
        return sec
    sec.paragraphs.append(f"Checkpoints used for the reader study: steps {steps}.")
    reasons = data.get("reasons")
    if isinstance(reasons, dict) and reasons:
        rows = [[count(k), str(v)] for k, v in sorted(reasons.items(), key=lambda kv: _num(kv[0]))]
        sec.tables.append(
            {
                "caption": "Why each checkpoint was chosen",
                "header": ["Step", "Reason"],
                "rows": rows,
                "note": "",
            }
        )
    elif data.get("reason"):
        sec.paragraphs.append(str(data["reason"]))
    return sec


def samples(run: Path, n_per_group: int = 16) -> Section:
    sec = Section(
        "samples",
        "Synthetic samples",
        f"The first {n_per_group} synthetic images of each checkpoint, shown as "
        "generated (before screening), so typical failures are visible too.",
    )
    root = run / "samples"
    groups = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for group in groups:
        paths = list_images(group)[:n_per_group]
        if paths:
            sec.figures.append({"src": figures.data_uri(figures.image_grid(paths)),
                                "caption": f"{group.name}: {len(paths)} of "
                                f"{len(list_images(group)):,} images."})  # fmt: skip
    if not sec.figures:
        sec.missing = "No samples have been generated (no images under samples/)."
    return sec


def screening(run: Path) -> Section:
    sec = Section(
        "screening",
        "Screening for implausible anatomy",
        "Each synthetic image gets a plausibility score; images past the calibrated "
        "threshold are excluded before any reader sees them.",
    )
    final = run / "keep" / "table_s1.csv"  # written by `radsynth run`: with reviewers' decisions
    if final.is_file() and (rows := read_csv(final)):
        return _screening_final(sec, rows)
    path = run / "screen" / "table_s1.csv"
    if not path.is_file() or not (rows := read_csv(path)):
        sec.missing = "Screening has not been run (no screen/table_s1.csv)."
        return sec
    body = []
    for r in rows:
        gen, exc = _num(r.get("generated")), _num(r.get("excluded"))
        body.append([r.get("group", ""), count(gen), count(exc), count(r.get("final")),
                     pct(exc / gen if gen else float("nan"))])  # fmt: skip
    groups = [r for r in rows if str(r.get("group", "")).lower() != "total"]
    gen_all = sum(_num(r.get("generated")) for r in groups)
    exc_all = sum(_num(r.get("excluded")) for r in groups)
    if gen_all:
        sec.headline = (
            f"Screening excluded {count(exc_all)} of {count(gen_all)} synthetic "
            f"images ({pct(exc_all / gen_all)}) as anatomically implausible."
        )
    sec.tables.append({"caption": "Images generated, excluded and kept per checkpoint",
                       "header": ["Checkpoint", "Generated", "Excluded", "Kept", "Excluded (%)"],
                       "rows": body, "note": ""})  # fmt: skip
    return sec


def _screening_final(sec: Section, rows: list[dict[str, str]]) -> Section:
    """Table S1 as the pipeline applied it: screen, reviewers' overrides, agreed copies."""
    keys = ("generated", "excluded_by_screen", "overridden_by_reviewer", "excluded_as_copy",
            "kept")  # fmt: skip
    body = [[r.get("group", ""), *(count(r.get(k)) for k in keys)] for r in rows]
    total = next((r for r in rows if r.get("group") == "total"), None)
    if total and _num(total.get("generated")):
        gen, kept = _num(total.get("generated")), _num(total.get("kept"))
        sec.headline = (
            f"Of {count(gen)} synthetic images, {count(kept)} ({pct(kept / gen)}) went on to the "
            f"reader study: the screen excluded {count(total.get('excluded_by_screen'))}, "
            f"reviewers overrode {count(total.get('overridden_by_reviewer'))} automatic "
            f"decisions and {count(total.get('excluded_as_copy'))} were excluded as copies."
        )
    sec.tables.append({"caption": "Table S1. Images generated, excluded and kept per checkpoint",
                       "header": ["Checkpoint", "Generated", "Excluded by screen",
                                  "Overridden by reviewer", "Excluded as copy", "Kept"],
                       "rows": body,
                       "note": "Overridden: a reviewer kept a flagged image or excluded a passed "
                       "one. Excluded as copy: reviewers agreed the image copies a training "
                       "image (counted among images otherwise kept)."})  # fmt: skip
    return sec


def _audit_dirs(run: Path) -> dict[str, list[Path]]:
    """Where pairs.csv paths are relative to: the audit's own config.json says, else guesses."""
    dirs = {"synthetic": [run / "oriented", run / "samples"], "train": [run / "data" / "train"]}
    try:
        cfg = json.loads((run / "audit" / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        cfg = {}
    for key in dirs:
        if isinstance(cfg.get(key), str):
            dirs[key].insert(0, Path(cfg[key]))
    return dirs


def _resolve(run: Path, name: str, roots: list[Path]) -> Path | None:
    p = Path(name)
    for cand in (*(root / p for root in roots), p, run / p, run / "audit" / p):
        if cand.is_file():
            return cand
    return None


def _flag(row: dict[str, str]) -> bool:
    return str(row.get("flagged", "")).strip().lower() in ("1", "true", "yes")


def _percentile(value: Any) -> str:
    x = _num(value)  # accept 0-1 or 0-100
    return pct(x / 100 if x > 1 else x)


def audit(run: Path, n_pairs: int = 8) -> Section:
    sec = Section(
        "audit",
        "Memorisation audit",
        "For every synthetic image we found the most similar training image. A very "
        "high similarity can mean the model copied a patient's radiograph.",
    )
    path = run / "audit" / "pairs.csv"
    if not path.is_file():
        sec.missing = "The memorisation audit has not been run (no audit/pairs.csv)."
        return sec
    rows = sorted(read_csv(path), key=lambda r: _num(r.get("rank")))
    dirs = _audit_dirs(run)
    everyone = run / "audit" / "neighbours.csv"
    audited = read_csv(everyone) if everyone.is_file() else rows
    flagged = sum(_flag(r) for r in audited)
    scope = "audited synthetic images" if everyone.is_file() else "most similar pairs listed"
    sec.headline = (f"{flagged:,} of {len(audited):,} {scope} were flagged as possible copies "
                    "of a training image.")  # fmt: skip
    sec.paragraphs.append(sec.headline)
    body = []
    for r in rows[:n_pairs]:
        is_flag = _flag(r)
        body.append([count(r.get("rank")), Path(r.get("synthetic", "")).name,
                     Path(r.get("train", "")).name, fmt(r.get("similarity"), 3),
                     _percentile(r.get("percentile")),
                     "yes" if is_flag else "no"])  # fmt: skip
        syn = _resolve(run, r.get("synthetic", ""), dirs["synthetic"])
        train = _resolve(run, r.get("train", ""), dirs["train"])
        if syn and train:
            sec.figures.append({"src": figures.data_uri(figures.pair_strip(syn, train)),
                                "caption": f"Pair {r.get('rank')}: synthetic (left) and its "
                                f"nearest training image (right), similarity "
                                f"{fmt(r.get('similarity'), 3)}"
                                f"{' — flagged' if is_flag else ''}."})  # fmt: skip
    sec.tables.append({"caption": f"The {len(body)} most similar pairs",
                       "header": ["Rank", "Synthetic image", "Nearest training image",
                                  "Similarity", "Percentile", "Flagged"],
                       "rows": body,
                       "note": "Percentile: where this similarity falls among similarities "
                       "between different real patients; near 100% means closer than almost "
                       "any two distinct patients."})  # fmt: skip
    return sec
