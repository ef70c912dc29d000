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
from radsynth.layout import RunLayout
from radsynth.pipeline import stages
from radsynth.pipeline.stages import PipelineStep, RunPlan, Wiring, step_name


def section_config(cls: type, section: str, user: dict[str, Any], wired: dict[str, Any]) -> Any:
    """Build one stage's config from the user's section and the fields the pipeline sets.

    Raises:
        RadsynthError: one line naming the section and the key: a key the config does not have,
            a folder the pipeline sets itself, or a bad value.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    valid = [n for n in names if n not in wired]
    unknown = sorted(set(user) - set(names))
    if unknown:
        raise RadsynthError(
            f"pipeline section '{section}': unknown key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(valid)}"
        )
    set_by_pipeline = sorted(set(user) & set(wired))
    if set_by_pipeline:
        raise RadsynthError(
            f"pipeline section '{section}': {', '.join(set_by_pipeline)} is set by the pipeline "
            f"(a folder inside the run); valid keys: {', '.join(valid)}"
        )
    try:
        return build_config(cls, user, wired)
    except RadsynthError as exc:
        raise RadsynthError(f"pipeline section '{section}': {exc}") from None


def step_config(step: PipelineStep, w: Wiring) -> Any:
    """One step's config: the user's section with the fields the pipeline sets."""
    cls, _ = stages.stage(step.stage).load()
    user = w.spec.section(step.section) if step.section is not None else {}
    wired = step.wire(w, user)  # may take pipeline-only keys (fid_sweep's real) out of `user`
    return section_config(cls, step.section or step.name, user, wired)


def build_configs(spec: RunPlan, run: RunLayout, chosen: tuple[int, ...]) -> dict[str, Any]:
    """Every step's config for ``spec`` in ``run`` with the checkpoints ``chosen``, by step name
    (``sample step-NNNNNNN`` for each chosen checkpoint); steps this run leaves out are absent.

    Raises:
        RadsynthError: a section holds an unknown key, a folder the pipeline sets, or a bad value.
    """
    configs: dict[str, Any] = {}
    for step in stages.PIPELINE:
        if not step.when(spec):
            continue
        for checkpoint in chosen if step.per_checkpoint else (0,):
            w = Wiring(spec, run, chosen, checkpoint)
            configs[step_name(step, checkpoint)] = step_config(step, w)
    return configs


def check_configs(spec: RunPlan, run: RunLayout, named: tuple[int, ...] | None) -> None:
    """Check every section before any stage runs: the configs are built for the named
    checkpoints, or for checkpoint 0 when radsynth will propose them (and then discarded)."""
    build_configs(spec, run, named or (0,))
