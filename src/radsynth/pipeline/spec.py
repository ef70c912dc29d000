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

Several generators in one run name each under ``generators:``, each with its own training,
checkpoint sweep, choice and sampling sections; everything after sampling (orient, screen, keep,
audit, utility, study, stats, release, report) is shared, with the sets side by side::

    generators:
      ddpm: {train: {preset: demo}, fid_sweep: {every: 2}, sample: {n: 500}}
      gan: {train_gan: {preset: tiny}, checkpoints: auto, sample: {n: 500}}

A generator is of the diffusion family unless its training section is ``train_gan:``. Without
``generators:`` the run has one unnamed generator, from the top-level sections, at the paths a
run had before generators existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radsynth.config import load_config_file
from radsynth.errors import RadsynthError
from radsynth.layout import generator_name_problem
from radsynth.pipeline import stages

#: A generator's keys besides its stages' sections.
_CHOICE_KEYS = ("checkpoints", "n_checkpoints")


@dataclass(frozen=True)
class GeneratorSpec:
    """One generator of a run: its family, its checkpoint choice and its own sections."""

    name: str | None  # None: the run's one unnamed generator (from the top-level sections)
    family: str  # "diffusion" or "gan": which training stage it has (stages.FAMILIES)
    checkpoints: tuple[int, ...] | None  # training steps to sample from; None = propose them
    n_checkpoints: int  # how many to propose when checkpoints is None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> its fields

    def section(self, stage: str) -> dict[str, Any]:
        """The user's fields for one of its stages (empty when the file sets none)."""
        return dict(self.sections.get(stage, {}))

    def describe(self) -> str:
        """How an error names it: ``generator 'gan'``, or ``the pipeline`` when unnamed."""
        return "the pipeline" if self.name is None else f"generator '{self.name}'"


@dataclass(frozen=True)
class PipelineSpec:
    """A parsed pipeline file."""

    name: str  # run name; the run folder defaults to runs/<name>
    run_dir: Path  # where every stage writes its folder
    source: Path | None  # folder of real radiographs; None when phantoms stand in
    generators: tuple[GeneratorSpec, ...]  # in the file's order; one unnamed without generators:
    simulate_readers: bool  # answer the reader study with simulated raters (demo only)
    keep: str  # "screened": flagged images are excluded; "all": flagged ones are only marked
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # shared stage -> fields

    def section(self, stage: str) -> dict[str, Any]:
        """The user's fields for one shared stage (empty when the file does not set any)."""
        return dict(self.sections.get(stage, {}))


def parse_spec(data: dict[str, Any], *, base: Path, run_dir: Path | None = None) -> PipelineSpec:
    """Validate a pipeline mapping.

    Args:
        data: the mapping read from YAML.
        base: folder that relative paths in the file are relative to.
        run_dir: overrides the file's ``run_dir``.
    """
    own = set(_CHOICE_KEYS) | set(stages.generator_sections())
    known = {"name", "run_dir", "source", "keep", "generators", *own, *stages.sections()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RadsynthError(
            f"unknown pipeline key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
        )
    name = str(data.get("name", "run"))
    if "generators" in data:
        misplaced = sorted(own & set(data))
        if misplaced:
            raise RadsynthError(
                f"{', '.join(misplaced)} belong(s) to a generator: with `generators:`, give each "
                "generator its own (e.g. generators: {ddpm: {train: ..., sample: ...}})"
            )
        generators = _parse_generators(data["generators"])
    else:
        generators = (_parse_generator(None, data),)
    shared = set(stages.sections()) - set(stages.generator_sections())
    sections = _sections(data, sorted(shared), "pipeline section")
    source = data.get("source")
    if source is None and "phantoms" not in data:
        raise RadsynthError("the pipeline needs `source: FOLDER` of radiographs or `phantoms:`")
    if source is not None and "phantoms" in data:
        raise RadsynthError("give either `source:` or `phantoms:`, not both")
    return PipelineSpec(
        name=name,
        run_dir=run_dir or _resolve(base, data.get("run_dir", f"runs/{name}")),
        source=_resolve(base, source) if source is not None else None,
        generators=generators,
        # `simulate: {}` asks for simulated readers with the defaults, as any section does
        simulate_readers=data.get("simulate") is not None,
        keep=_parse_keep(data.get("keep", "screened")),
        sections=sections,
    )


def _sections(data: dict[str, Any], names: list[str], what: str) -> dict[str, dict[str, Any]]:
    """The sections of ``names`` that ``data`` sets, each checked to be a mapping."""
    sections: dict[str, dict[str, Any]] = {}
    for stage in names:
        value = data.get(stage)
        if value is None or value is False or value is True:
            continue
        if not isinstance(value, dict):
            raise RadsynthError(f"{what} '{stage}' must be a mapping of field: value")
        sections[stage] = value
    return sections


def _parse_generators(value: Any) -> tuple[GeneratorSpec, ...]:
    """``generators:``: a mapping of name -> that generator's sections, each name a folder
    name unique on a case-insensitive file system too (its sets are ``NAME/step-NNNNNNN``)."""
    if not isinstance(value, dict) or not value:
        raise RadsynthError("`generators` must map each generator's name to its sections")
    seen: dict[str, str] = {}
    generators = []
    for name, body in value.items():
        name = str(name)
        if (problem := generator_name_problem(name)) is not None:
            raise RadsynthError(f"generator name {name!r} is not allowed: {problem}")
        if (other := seen.get(name.casefold())) is not None:
            raise RadsynthError(
                f"generators {other!r} and {name!r} collide: their sets ({other}/step-... and "
                f"{name}/step-...) differ only in case, one folder on many file systems"
            )
        seen[name.casefold()] = name
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise RadsynthError(f"generator '{name}' must be a mapping of its sections")
        generators.append(_parse_generator(name, body))
    return tuple(generators)


def _parse_generator(name: str | None, body: dict[str, Any]) -> GeneratorSpec:
    """One generator from its keys (the top-level ones for the unnamed generator)."""
    where = "pipeline section" if name is None else f"generator '{name}': section"
    if name is not None:
        allowed = set(_CHOICE_KEYS) | set(stages.generator_sections())
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise RadsynthError(
                f"generator '{name}': unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(allowed))}"
            )
    sections = _sections(body, list(stages.generator_sections()), where)
    trained_by = [f for f, section in stages.FAMILIES.items() if section in body]
    if len(trained_by) > 1:
        names = " and ".join(f"`{stages.FAMILIES[f]}:`" for f in trained_by)
        who = "the pipeline" if name is None else f"generator '{name}'"
        raise RadsynthError(
            f"{who} has {names}: a generator is of one family (diffusion: `train:`, GAN: "
            "`train_gan:`); name a second generator under `generators:` for the other"
        )
    return GeneratorSpec(
        name=name,
        family=trained_by[0] if trained_by else "diffusion",
        checkpoints=_parse_checkpoints(body.get("checkpoints", "auto")),
        n_checkpoints=_parse_count(body.get("n_checkpoints", 3)),
        sections=sections,
    )


def _parse_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RadsynthError(f"`n_checkpoints` must be a whole number >= 1, got {value!r}")
    return value


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
