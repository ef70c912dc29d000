"""One function per report section. Each reads its part of the run folder and returns a
:class:`Section`; a missing input gives a short "not run" note instead of an error.

Captions are written for clinicians: what the figure shows and how to read it, in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.data.imageio import list_images
from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows, read_json
from radsynth.layout import RunLayout
from radsynth.records import read_choice, read_fid, read_losses, read_neighbours, read_pairs
from radsynth.report import figures
from radsynth.stage import draw_figure


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
    links: list[dict[str, str]] = field(default_factory=list)  # href (relative to RUN), text
    headline: str | None = None  # one line for the "at a glance" summary


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts (a BOM from spreadsheet exports is ignored); a file that is
    not UTF-8 or not valid CSV is a one-line error."""
    return read_csv_rows(path)


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
    path = RunLayout(run).choice
    if not path.is_file():
        return []
    try:
        return list(read_choice(path).steps)
    except RadsynthError:
        return []


def _plot_uri(what: str, draw, sec: Section) -> str | None:
    """A drawn plot (PNG bytes from ``draw()``) as a data URI; a plotting error becomes one of
    the section's bullets and a logged warning, never a failed report."""
    png = draw_figure(what, draw, sec.bullets)
    return None if png is None else figures.data_uri(png)


def training(run: Path) -> Section:
    sec = Section(
        "training",
        "Training progress",
        "How well the model learned to remove noise from training images, step by step.",
    )
    losses, png = RunLayout(run).losses, RunLayout(run).loss_curves
    if rows := read_losses(losses):
        step = np.array([r.step for r in rows], dtype=float)
        series = {
            name: (step, np.array([getattr(r, col) for r in rows]))
            for name, col in (("training loss", "train_loss"), ("validation loss", "val_loss"))
        }
        src = _plot_uri(
            "loss curves",
            lambda: figures.line_plot(
                series,
                "training step",
                "loss (MSE)",
                "Loss curves",
                log_y=True,
                marks=chosen_steps(run),
            ),
            sec,
        )
        val = [(x, r.val_loss) for x, r in zip(step, rows, strict=True)]
        val = [(x, v) for x, v in val if np.isfinite(v)]
        if val:
            sec.headline = (
                f"Training ran to step {int(step.max()):,}; the last validation loss "
                f"was {val[-1][1]:.4f}."
            )
    elif png.is_file():
        src = figures.data_uri(png.read_bytes())
    else:
        sec.missing = "Training has not been run for this folder (no train/losses.csv)."
        return sec
    if src is None:
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
    if not (rows := read_fid(RunLayout(run).fid)):
        sec.missing = "The FID sweep has not been run (no fid_sweep/fid.csv)."
        return sec
    step = np.array([r.step for r in rows], dtype=float)
    f = np.array([r.fid for r in rows])
    src = _plot_uri(
        "FID versus training step",
        lambda: figures.line_plot(
            {"FID": (step, f)},
            "training step",
            "FID (lower is better)",
            "FID versus training step",
            marks=chosen_steps(run),
        ),
        sec,
    )
    if src is not None:
        sec.figures.append(
            {
                "src": src,
                "caption": "Each point scores one saved checkpoint against the real images.",
            }
        )
    header = ["Step", "FID", "KID (×1000)", "Precision", "Recall", "Real / synthetic images"]
    body = [
        [
            count(r.step),
            fmt(r.fid, 2),
            f"{fmt(1000 * r.kid_mean, 2)} ± {fmt(1000 * r.kid_std, 2)}",
            fmt(r.precision, 3),
            fmt(r.recall, 3),
            f"{count(r.n_real)} / {count(r.n_fake)}",
        ]
        for r in rows
    ]
    sec.tables.append(
        {
            "caption": "Quality scores per checkpoint",
            "header": header,
            "rows": body,
            "note": "Precision: share of synthetic images that look like real ones "
            "(fidelity). Recall: share of the real variety the model covers "
            "(diversity). Both range 0-1; higher is better.",
        }
    )
    if np.isfinite(f).any():
        best = int(np.nanargmin(f))
        sec.headline = f"The lowest FID, {f[best]:.2f}, was reached at step {int(step[best]):,}."
        sec.paragraphs.append(sec.headline)
    return sec


def checkpoints(run: Path) -> Section | None:
    path = RunLayout(run).choice
    if not path.is_file():
        return None
    sec = Section("checkpoints", "Which checkpoints were chosen, and why")
    try:
        choice = read_choice(path)
    except RadsynthError:
        sec.missing = "checkpoints.json could not be read."
        return sec
    steps = ", ".join(f"{s:,}" for s in choice.steps)
    sec.paragraphs.append(f"Checkpoints used for the reader study: steps {steps}.")
    if choice.reasons:
        rows = [[count(k), v] for k, v in sorted(choice.reasons.items())]
        sec.tables.append(
            {
                "caption": "Why each checkpoint was chosen",
                "header": ["Step", "Reason"],
                "rows": rows,
                "note": "",
            }
        )
    elif choice.how:
        sec.paragraphs.append(choice.how)
    return sec


def samples(run: Path, n_per_group: int = 16) -> Section:
    sec = Section(
        "samples",
        "Synthetic samples",
        f"The first {n_per_group} synthetic images of each checkpoint, shown as "
        "generated (before screening), so typical failures are visible too.",
    )
    root = RunLayout(run).samples
    groups = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for group in groups:
        paths = list_images(group)[:n_per_group]
        if paths:
            sec.figures.append(
                {
                    "src": figures.data_uri(figures.image_grid(paths)),
                    "caption": f"{group.name}: {len(paths)} of {len(list_images(group)):,} images.",
                }
            )
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
    # keep/ is written by `radsynth run`: with reviewers' decisions.
    final = RunLayout(run).keep_table_s1
    if final.is_file() and (rows := read_csv(final)):
        return _screening_final(sec, rows)
    path = RunLayout(run).screen_table_s1
    if not path.is_file() or not (rows := read_csv(path)):
        sec.missing = "Screening has not been run (no screen/table_s1.csv)."
        return sec
    body = []
    for r in rows:
        gen, exc = _num(r.get("generated")), _num(r.get("excluded"))
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
    gen_all = sum(_num(r.get("generated")) for r in groups)
    exc_all = sum(_num(r.get("excluded")) for r in groups)
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
    keys = ("generated", "excluded_by_screen", "overridden_by_reviewer", "excluded_as_copy", "kept")
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
    sec.tables.append(
        {
            "caption": "Table S1. Images generated, excluded and kept per checkpoint",
            "header": [
                "Checkpoint",
                "Generated",
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


def release(run: Path) -> Section | None:
    """The released dataset (``RUN/release``) with a link to its card; None when not released."""
    card, table = RunLayout(run).release_card, RunLayout(run).release_table_s1
    if not card.is_file() or not table.is_file():
        return None
    sec = Section(
        "release",
        "Released dataset",
        "The kept images as a dataset others can "
        "download: per-image provenance, checksums and a dataset card.",
    )
    rows = read_csv(table)
    total = next((r for r in rows if r.get("group") == "total"), None)
    if total is not None:
        sec.headline = f"{count(total.get('kept'))} images released with a dataset card."
        sec.paragraphs.append(
            f"{count(total.get('kept'))} of {count(total.get('generated'))} "
            "synthetic images were released, checked against every training image (as "
            "generated and mirrored) and for source names; the dataset card states how they "
            "were made, the licence, and the known limitations."
        )
    sec.links.append({"href": "release/README.md", "text": "Dataset card (release/README.md)"})
    return sec
