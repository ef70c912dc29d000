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
from radsynth.evaluation.collapse import HIGH_PRECISION, MIN_DIVERSITY, ZERO_RECALL
from radsynth.gan.curves import read_gan_losses
from radsynth.io import read_csv_rows
from radsynth.layout import GeneratorLayout, RunLayout
from radsynth.records import read_choice, read_fid, read_losses
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


def num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: thousands separators for counts, fixed decimals otherwise."""
    x = num(value)
    if not np.isfinite(x):
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{x:.{digits}f}"


def count(value: Any) -> str:
    """A whole number with thousands separators, or a dash when missing."""
    x = num(value)
    return f"{int(round(x)):,}" if np.isfinite(x) else "–"


def fmt_p(p: Any) -> str:
    """A p-value as clinicians read it: three decimals, or "< 0.001"."""
    x = num(p)
    if not np.isfinite(x):
        return "not defined"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def p_clause(p: Any) -> str:
    """A p-value inside a sentence: "p = 0.123" or "p < 0.001"."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def pct(x: Any, digits: int = 1) -> str:
    return "–" if not np.isfinite(num(x)) else f"{100 * num(x):.{digits}f}%"


def chosen_steps(gen: GeneratorLayout) -> list[int]:
    path = gen.choice
    if not path.is_file():
        return []
    try:
        return list(read_choice(path).steps)
    except RadsynthError:
        return []


def plot_uri(what: str, draw, sec: Section) -> str | None:
    """A drawn plot (PNG bytes from ``draw()``) as a data URI; a plotting error becomes one of
    the section's bullets and a logged warning, never a failed report."""
    png = draw_figure(what, draw, sec.bullets)
    return None if png is None else figures.data_uri(png)


def _titled(base_id: str, title: str, gen: GeneratorLayout) -> tuple[str, str]:
    """A generator's section id and title: the bare ones for a run's one unnamed generator."""
    if gen.name is None:
        return base_id, title
    return f"{base_id}-{gen.name}", f"{title}: generator {gen.name}"


def training(gen: GeneratorLayout) -> Section:
    sec = Section(
        *_titled("training", "Training progress", gen),
        "How well the model learned to remove noise from training images, step by step.",
    )
    losses, png = gen.losses, gen.loss_curves
    if (gan := read_gan_losses(losses)) is not None:
        return _gan_training(sec, gan, gen)
    if rows := read_losses(losses):
        step = np.array([r.step for r in rows], dtype=float)
        series = {
            name: (step, np.array([getattr(r, col) for r in rows]))
            for name, col in (("training loss", "train_loss"), ("validation loss", "val_loss"))
        }
        src = plot_uri(
            "loss curves",
            lambda: figures.line_plot(
                series,
                "training step",
                "loss (MSE)",
                "Loss curves",
                log_y=True,
                marks=chosen_steps(gen),
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


def _gan_training(sec: Section, losses: dict[str, list[float]], gen: GeneratorLayout) -> Section:
    """A GAN's training section: its discriminator and generator losses per checkpoint."""
    sec.intro = (
        "A GAN's losses do not fall steadily: they show the balance between the discriminator "
        "and the generator (a relativistic loss near log 2 = 0.69 means the discriminator cannot "
        "tell real from generated) and any blow-up."
    )
    step = np.array(losses["step"], dtype=float)
    series = {name: (step, np.array(losses[col])) for name, col in _GAN_SERIES}
    if len(step):
        sec.headline = f"Training ran to step {int(step.max()):,}."
    src = plot_uri(
        "GAN losses",
        lambda: figures.line_plot(
            series, "training step", "loss", "GAN losses", marks=chosen_steps(gen)
        ),
        sec,
    )
    if src is not None:
        sec.figures.append({"src": src, "caption": "Mean of each loss since the last checkpoint."})
    return sec


_GAN_SERIES = (("discriminator", "adversarial_d"), ("generator", "loss_g"))


def fid(gen: GeneratorLayout) -> Section:
    sec = Section(
        *_titled("fid", "Image quality across training (FID)", gen),
        "The Fréchet Inception Distance compares the statistics of synthetic and real "
        "images: 0 would mean indistinguishable to the feature network; lower is better.",
    )
    if not (rows := read_fid(gen.fid)):
        sec.missing = "The FID sweep has not been run (no fid_sweep/fid.csv)."
        return sec
    step = np.array([r.step for r in rows], dtype=float)
    f = np.array([r.fid for r in rows])
    src = plot_uri(
        "FID versus training step",
        lambda: figures.line_plot(
            {"FID": (step, f)},
            "training step",
            "FID (lower is better)",
            "FID versus training step",
            marks=chosen_steps(gen),
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
    header += ["Diversity", "Collapse"]
    body = [
        [
            count(r.step),
            fmt(r.fid, 2),
            f"{fmt(1000 * r.kid_mean, 2)} ± {fmt(1000 * r.kid_std, 2)}",
            fmt(r.precision, 3),
            fmt(r.recall, 3),
            f"{count(r.n_real)} / {count(r.n_fake)}",
            fmt(r.diversity, 2),
            r.collapse or "-",
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
            "(diversity). Both range 0-1; higher is better. Diversity: how spread out the "
            "synthetic images are relative to the real ones (1 = as varied). Collapse: "
            f"diversity under {MIN_DIVERSITY:g}, or recall under {ZERO_RECALL:g} with "
            f"precision {HIGH_PRECISION:g} or more.",
        }
    )
    collapsed = [r for r in rows if r.collapse]
    if collapsed:
        sec.paragraphs.append(
            f"Warning: {len(collapsed)} checkpoint(s) look collapsed (the model repeats a few "
            f"images): step {', '.join(f'{r.step:,}' for r in collapsed)}."
        )
    if np.isfinite(f).any():
        best = int(np.nanargmin(f))
        sec.headline = f"The lowest FID, {f[best]:.2f}, was reached at step {int(step[best]):,}."
        sec.paragraphs.append(sec.headline)
    return sec


def checkpoints(gen: GeneratorLayout) -> Section | None:
    path = gen.choice
    if not path.is_file():
        return None
    sec = Section(*_titled("checkpoints", "Which checkpoints were chosen, and why", gen))
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
