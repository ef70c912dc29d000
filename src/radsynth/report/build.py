"""The ``radsynth report`` stage: one self-contained HTML page for a pipeline run.

Every image is embedded as base64 and the CSS is inline, so the page can be mailed or archived
as a single file and opens without network access. Each section is optional: a stage that has
not been run shows a short note instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from radsynth import __version__
from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.layout import RunLayout
from radsynth.report import audit, sections
from radsynth.report.generators import generators
from radsynth.report.mrmc import mrmc_section
from radsynth.report.review import reviewer_decisions
from radsynth.report.study import study
from radsynth.report.utility import utility
from radsynth.stage import StageResult, atomic_write_text

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ReportConfig:
    """Build one self-contained HTML report (figures, tables, reader study) for a run folder."""

    run: Path = arg(
        help="run folder made by 'radsynth run' (or by the stages by hand)", positional=True
    )
    out: Path | None = arg(None, help="HTML file to write (default: RUN/report.html)")
    samples_per_group: int = arg(16, help="synthetic images shown per checkpoint")
    n_pairs: int = arg(8, help="memorisation-audit pairs shown (most similar first)")
    overwrite: bool = arg(False, help="replace an existing report file")

    def __post_init__(self) -> None:
        if self.samples_per_group < 1 or self.n_pairs < 0:
            raise ValueError("samples_per_group must be >= 1 and n_pairs >= 0")


def _numeric(cell: object) -> bool:
    """Whether a table cell reads as a number (right-aligned) rather than text."""
    return bool(re.fullmatch(r"[<\-–]?\s*[\d][\d.,%]*( .*)?", str(cell)))


def render(run: Path, samples_per_group: int = 16, n_pairs: int = 8) -> str:
    """The report page for ``run`` as HTML text (sections in pipeline order)."""
    parts = [
        section
        for gen in map(RunLayout(run).generator, RunLayout(run).generator_names() or [None])
        for section in (sections.training(gen), sections.fid(gen), sections.checkpoints(gen))
    ]
    parts += [
        sections.samples(run, samples_per_group),
        generators(run),
        audit.screening(run),
        audit.audit(run, n_pairs),
        reviewer_decisions(run),
        utility(run),
        study(run),
        mrmc_section(run),
        sections.release(run),
    ]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.tests["numeric"] = _numeric
    return env.get_template("report.html").render(
        run_name=run.resolve().name,
        sections=[s for s in parts if s is not None],
        created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )


def report(cfg: ReportConfig) -> StageResult:
    """Write the report of ``cfg.run`` to ``cfg.out`` (default ``RUN/report.html``)."""
    if not cfg.run.is_dir():
        raise RadsynthError(f"run folder not found: {cfg.run}")
    out = cfg.out or RunLayout(cfg.run).report
    if out.exists() and not cfg.overwrite:
        raise RadsynthError(f"{out} already exists; pass --overwrite to replace it")
    html = render(cfg.run, cfg.samples_per_group, cfg.n_pairs)
    atomic_write_text(out, html)
    return StageResult(out.parent, f"report written to {out} ({len(html) / 1e6:.1f} MB)")
