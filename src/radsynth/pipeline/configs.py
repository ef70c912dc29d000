"""Every step's config for one run, built from the pipeline file and the stage table.

Each YAML section holds the user's fields of one stage; the pipeline fills in the folders from
the run layout (:class:`radsynth.layout.RunLayout`) through each step's wiring in
:data:`radsynth.pipeline.stages.PIPELINE`. All sections are checked up front
(:func:`check_configs`), so that a misspelled key, a bad value or a key the pipeline sets itself
fails before anything is written, with a one-line error that names the section, the key and
the valid keys. The configs a run uses are built once the checkpoints are chosen
(:func:`build_configs`): the study's synthetic sets and each sample step depend on that choice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from radsynth.config import build_config
from radsynth.errors import RadsynthError
from radsynth.layout import RunLayout, SyntheticSet
from radsynth.pipeline import stages
from radsynth.pipeline.stages import GeneratorPlan, PipelineStep, RunPlan, Wiring, step_name


def section_config(cls: type, where: str, user: dict[str, Any], wired: dict[str, Any]) -> Any:
    """Build one stage's config from the user's section and the fields the pipeline sets;
    ``where`` names the section in errors (``pipeline section 'train'``).

    Raises:
        RadsynthError: one line naming the section and the key: a key the config does not have,
            a folder the pipeline sets itself, or a bad value.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    valid = [n for n in names if n not in wired]
    unknown = sorted(set(user) - set(names))
    if unknown:
        raise RadsynthError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}"
        )
    set_by_pipeline = sorted(set(user) & set(wired))
    if set_by_pipeline:
        raise RadsynthError(
            f"{where}: {', '.join(set_by_pipeline)} is set by the pipeline "
            f"(a folder inside the run); valid keys: {', '.join(valid)}"
        )
    try:
        return build_config(cls, user, wired)
    except RadsynthError as exc:
        raise RadsynthError(f"{where}: {exc}") from None


def generator_of(spec: RunPlan, name: str | None) -> GeneratorPlan:
    """The generator of ``spec`` named ``name`` (None: the unnamed one)."""
    return next(g for g in spec.generators if g.name == name)


def refuse_other_family(cls: type, generator: GeneratorPlan, section: str, user: dict) -> None:
    """A setting of the other family in a generator's section (a config class lists its
    family-only fields in ``FAMILY_ONLY``, e.g. a sampler for a GAN), refused in one line."""
    for family, names in getattr(cls, "FAMILY_ONLY", {}).items():
        given = sorted(set(user) & set(names))
        if family != generator.family and given:
            raise RadsynthError(
                f"{generator_label(generator, section)}: {', '.join(given)} is a {family} "
                f"setting; this generator is of the {generator.family} family"
            )


def generator_label(generator: GeneratorPlan, section: str) -> str:
    """How an error names a generator's section."""
    where = f"pipeline section '{section}'"
    return where if generator.name is None else f"generator '{generator.name}': section '{section}'"


def step_config(step: PipelineStep, w: Wiring) -> Any:
    """One step's config: the user's section (the run's, or its generator's) with the fields
    the pipeline sets."""
    cls, _ = stages.stage(step.stage).load()
    if step.section is None:
        return section_config(cls, f"pipeline step '{step.name}'", {}, step.wire(w, {}))
    if step.scope == "run":
        user = w.spec.section(step.section)
        where = f"pipeline section '{step.section}'"
        return section_config(cls, where, user, step.wire(w, user))
    generator = generator_of(w.spec, w.generator)
    user = generator.section(step.section)
    refuse_other_family(cls, generator, step.section, user)
    wired = step.wire(w, user)  # may take pipeline-only keys (fid_sweep's real) out of `user`
    return section_config(cls, generator_label(generator, step.section), user, wired)


def build_configs(
    spec: RunPlan, run: RunLayout, chosen: tuple[SyntheticSet, ...]
) -> dict[str, Any]:
    """Every step's config for ``spec`` in ``run`` with the sets ``chosen``, by step name
    (``sample [GEN/]step-NNNNNNN`` for each chosen set); steps this run leaves out are absent.

    Raises:
        RadsynthError: a section holds an unknown key, a folder the pipeline sets, a setting of
            the other family, or a bad value.
    """
    configs: dict[str, Any] = {}
    for row in stages.PIPELINE:
        for w in stages.instances(row, spec, run, chosen):
            configs[step_name(row, w)] = step_config(row, w)
    return configs


def check_configs(spec: RunPlan, run: RunLayout) -> None:
    """Check every section before any stage runs: the configs are built for each generator's
    named checkpoints, or for checkpoint 0 when radsynth will propose them (then discarded)."""
    chosen = tuple(
        SyntheticSet(g.name, step) for g in spec.generators for step in (g.checkpoints or (0,))
    )
    build_configs(spec, run, chosen)
