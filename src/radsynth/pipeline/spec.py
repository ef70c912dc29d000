"""The pipeline file read by ``radsynth run``: one section per stage, in each stage's own fields.

A section holds the same keys as that stage's CLI flags (``size_px`` for ``--size-px``). The
pipeline fills in the folders itself (each stage's input and output inside the run folder), so a
section never names them. Example (see ``examples/`` for complete files)::

    name: csxa-repro
    source: /data/csxa             # a folder of radiographs; or `phantoms: {n: 2000}`
    ingest: {size_px: 256, resize: stretch}
    train: {preset: paper}
    fid_sweep: {every: 10, n: 7250}
    checkpoints: [68000, 80000, 160000]   # or `auto` to let radsynth propose them
    sample: {n: 9000, sampler: dpmpp, steps: 25}
    study: {design: quartet, items: 50, raters: 8}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radsynth.config import load_config_file
from radsynth.errors import RadsynthError
from radsynth.pipeline import stages


@dataclass(frozen=True)
class PipelineSpec:
    """A parsed pipeline file."""

    name: str  # run name; the run folder defaults to runs/<name>
    run_dir: Path  # where every stage writes its folder
    source: Path | None  # folder of real radiographs; None when phantoms stand in
    checkpoints: tuple[int, ...] | None  # training steps to sample from; None = propose them
    n_checkpoints: int  # how many to propose when checkpoints is None
    simulate_readers: bool  # answer the reader study with simulated raters (demo only)
    keep: str  # "screened": flagged images are excluded; "all": flagged ones are only marked
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> its fields

    def section(self, stage: str) -> dict[str, Any]:
        """The user's fields for one stage (empty when the file does not set any)."""
        return dict(self.sections.get(stage, {}))


def parse_spec(data: dict[str, Any], *, base: Path, run_dir: Path | None = None) -> PipelineSpec:
    """Validate a pipeline mapping.

    Args:
        data: the mapping read from YAML.
        base: folder that relative paths in the file are relative to.
        run_dir: overrides the file's ``run_dir``.
    """
    known = {
        "name",
        "run_dir",
        "source",
        "checkpoints",
        "n_checkpoints",
        "keep",
        *stages.sections(),
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise RadsynthError(
            f"unknown pipeline key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
        )
    name = str(data.get("name", "run"))
    sections: dict[str, dict[str, Any]] = {}
    for stage in stages.sections():
        value = data.get(stage)
        if value is None or value is False or value is True:
            continue
        if not isinstance(value, dict):
            raise RadsynthError(f"pipeline section '{stage}' must be a mapping of field: value")
        sections[stage] = value
    source = data.get("source")
    if source is None and "phantoms" not in data:
        raise RadsynthError("the pipeline needs `source: FOLDER` of radiographs or `phantoms:`")
    if source is not None and "phantoms" in data:
        raise RadsynthError("give either `source:` or `phantoms:`, not both")
    return PipelineSpec(
        name=name,
        run_dir=run_dir or _resolve(base, data.get("run_dir", f"runs/{name}")),
        source=_resolve(base, source) if source is not None else None,
        checkpoints=_parse_checkpoints(data.get("checkpoints", "auto")),
        n_checkpoints=int(data.get("n_checkpoints", 3)),
        # `simulate: {}` asks for simulated readers with the defaults, as any section does
        simulate_readers=data.get("simulate") is not None,
        keep=_parse_keep(data.get("keep", "screened")),
        sections=sections,
    )


def _resolve(base: Path, value: Any) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _parse_keep(value: Any) -> str:
    if value not in ("screened", "all"):
        raise RadsynthError(f"`keep` must be `screened` or `all`, got {value!r}")
    return str(value)


def _parse_checkpoints(value: Any) -> tuple[int, ...] | None:
    if value in (None, "auto"):
        return None
    if not isinstance(value, list) or not value:
        raise RadsynthError("`checkpoints` must be `auto` or a list of training steps")
    try:
        return tuple(sorted({int(v) for v in value}))
    except (TypeError, ValueError):
        raise RadsynthError(
            f"`checkpoints` must be training steps (integers), got {value}"
        ) from None


def load_spec(path: Path, run_dir: Path | None = None) -> PipelineSpec:
    """Read and validate a pipeline YAML file; relative paths are relative to the cwd."""
    return parse_spec(load_config_file(path), base=Path.cwd(), run_dir=run_dir)
