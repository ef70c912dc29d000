"""``radsynth run``: the whole pipeline from one YAML file into one run folder.

    ingest -> train -> FID sweep -> choose checkpoints -> sample -> orient -> screen -> keep
    -> audit -> [utility] -> create the reader study -> (readers answer) -> stats -> release
    -> report

With a ``utility:`` section (a conditional run: ``train: {condition_on: [label]}`` and
``sample: {label_mix: [...]}``), the utility benchmark runs on the last chosen checkpoint's kept
images as generated, minus the audit's flagged copies (:mod:`radsynth.utility.stage`).

Every stage is the same function its subcommand calls, with the same fields. The reader study is
the one step that waits for people: ``run`` stops after creating it and prints the rater links;
running it again once the readers have finished goes on to stats and the report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.fates.keep import park_unchosen_samples
from radsynth.layout import GeneratorLayout, RunLayout, SyntheticSet, checkpoint_step
from radsynth.pipeline import stages
from radsynth.pipeline.choose import (
    best_ema_rows,
    fid_curve,
    named_checkpoints,
    propose_checkpoints,
    val_loss_curve,
    with_ema_lengths,
    write_choice,
)
from radsynth.pipeline.configs import build_configs, check_configs
from radsynth.pipeline.legacy import legacy_keep_key
from radsynth.pipeline.lock import run_lock
from radsynth.pipeline.readers import reader_progress
from radsynth.pipeline.spec import GeneratorSpec, PipelineSpec, load_spec
from radsynth.pipeline.stages import PipelineStep, Wiring, expand_after, step_name
from radsynth.pipeline.steps import Step, StepOutcome, run_step
from radsynth.records.ema_sweep import read_ema_sweep
from radsynth.stage import StageResult, atomic_write_text
from radsynth.training.checkpoint import list_checkpoints

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Run the whole pipeline described by a YAML file into one run folder."""

    pipeline: Path = arg(help="pipeline YAML file (see examples/)", positional=True)
    run_dir: Path | None = arg(None, help="run folder; default: the file's run_dir or runs/NAME")
    partial_readers: bool = arg(
        False, help="go on to stats even if some readers have not finished (warns)"
    )


def _print(
    outcome: StepOutcome,
    echo: Callable[[str], None],
    seconds: float | None = None,
    cpu_seconds: float | None = None,
) -> None:
    took = f" ({seconds:.1f} s" if seconds is not None else ""
    if took and cpu_seconds is not None:
        took += f", {cpu_seconds:.1f} CPU-s"
    took += ")" if took else ""
    echo(f"[{outcome.status:>7}] {outcome.name}: {outcome.summary} -> {outcome.out}{took}")


def run_pipeline(
    spec: PipelineSpec, *, partial_readers: bool = False, echo: Callable[[str], None] = print
) -> StageResult:
    """Run every stage of ``spec`` in order, skipping those whose inputs and config are unchanged.

    Every stage's config is built (and so every section of the pipeline file checked) before
    the first stage runs; one run at a time holds the run folder's lock.

    Args:
        spec: the parsed pipeline file.
        partial_readers: continue to stats before every reader has finished.
        echo: where the one-line-per-stage summaries go.
    """
    layout = RunLayout(spec.run_dir)
    check_configs(spec, layout)
    layout.root.mkdir(parents=True, exist_ok=True)
    with run_lock(layout.lock):
        return _run_stages(spec, layout, partial_readers, echo)


def _run_stages(
    spec: PipelineSpec, run: RunLayout, partial_readers: bool, echo: Callable[[str], None]
) -> StageResult:
    """Run the rows of :data:`~radsynth.pipeline.stages.PIPELINE` in order; the decisions
    before a step (its ``before``) are made here: choose the checkpoints, point at the review
    page, wait for the readers."""
    keys: dict[str, str] = {}
    # A step this run leaves out (phantoms, with a source folder) adds nothing to the keys below.
    absent = {s.name for s in stages.PIPELINE if not s.when(spec)}
    configs = build_configs(spec, run, ())
    chosen: tuple[SyntheticSet, ...] = ()
    for row in stages.PIPELINE:
        if row.name in absent:
            continue
        if row.before == "choose":
            chosen = tuple(s for g in spec.generators for s in _choose(g, run.generator(g.name)))
            configs = build_configs(spec, run, chosen)
            park_unchosen_samples(run.samples, run.samples_unused, [s.name for s in chosen])
        elif row.before == "review" and not run.review.is_dir():
            echo(_REVIEW_HINT.format(run=run))
        elif row.before == "readers":
            waiting = _wait_for_readers(spec, run, partial_readers, echo)
            if waiting is not None:
                return waiting
        for w in stages.instances(row, spec, run, chosen):
            _do(_step(row, w, configs, keys), run, keys, absent, echo, marker=row.marker)
    return StageResult(run.root, f"report at {run.report}")


_REVIEW_HINT = (
    "Review the screen's flags, the audit's pairs and ingest's uncertain films with "
    "`radsynth review {run.review} --screen {run.screen} --audit {run.audit} "
    "--ingest {run.data}`; decisions there change the kept set (and bring decided "
    "films back into training) on the next run."
)


def _step(row: PipelineStep, w: Wiring, configs: dict[str, Any], keys: dict[str, str]) -> Step:
    """The step to run for one row of the table (for one generator, or one chosen set)."""
    name = step_name(row, w)
    cfg = configs[name]
    _, function = stages.stage(row.stage).load()
    return Step(
        name,
        function,
        cfg,
        row.out(w),
        after=expand_after(row, w),
        always=row.always,
        inputs=row.inputs(w, cfg),
        legacy_key=_legacy_key(row.name, w.spec, w.run, keys),
        aside=row.aside(w) if row.aside is not None else None,
    )


def _legacy_key(name: str, spec: PipelineSpec, run: RunLayout, keys: dict[str, str]) -> str | None:
    """The key a format-1 run folder recorded for a keep step (:mod:`.legacy`)."""
    if name == "keep":
        return legacy_keep_key(run.root, run.screen, run.review, spec.keep)
    if name == "exclude copies":
        audit_key = keys["audit"]
        return legacy_keep_key(run.root, run.screen, run.review, spec.keep, audit_key=audit_key)
    return None


def _do(
    step: Step,
    run: RunLayout,
    keys: dict[str, str],
    absent: set[str],
    echo: Callable[[str], None],
    *,
    marker: str | None = None,
) -> StepOutcome:
    """Run one step and print its line; a ``marker`` step's stage writes elsewhere (simulated
    answers go into the study), and its output file records that it ran."""
    # Wall time and this process's CPU time (all its threads) per step, so a user sees where
    # the time goes, and two generators' training can be compared on CPU-seconds.
    start, cpu = time.perf_counter(), time.process_time()
    outcome = run_step(step, run.root, keys, absent)
    if marker is not None and outcome.status != "cached":
        record = {marker: True, "summary": outcome.summary}
        atomic_write_text(step.out, json.dumps(record))
    if marker is None:
        _print(outcome, echo, time.perf_counter() - start, time.process_time() - cpu)
    else:
        _print(outcome, echo)
    return outcome


def _wait_for_readers(
    spec: PipelineSpec, run: RunLayout, partial_readers: bool, echo: Callable[[str], None]
) -> StageResult | None:
    """None when the readers have finished (or partial answers are allowed); else the result
    that stops the run until they have."""
    progress = reader_progress(run.study, "simulated" if spec.simulate_readers else "human")
    if not progress.finished and not partial_readers:
        echo(progress.describe())
        echo(
            "The reader study is waiting for its raters: serve it with "
            f"`radsynth study serve {run.study}`, send each rater their link (above), "
            "and run this command again once they have finished."
        )
        return StageResult(run.root, f"waiting for readers ({progress.summary})")
    if not progress.finished:
        log.warning("going on with partial reader answers: %s", progress.summary)
    return None


def _choose(generator: GeneratorSpec, gen: GeneratorLayout) -> list[SyntheticSet]:
    """One generator's sets: its named checkpoints, or those proposed from its curves; writes
    its checkpoints.json."""
    available = sorted(checkpoint_step(p.name) for p in list_checkpoints(gen.train))
    ema = read_ema_sweep(gen.ema_sweep_csv) if "ema_sweep" in generator.sections else []
    if generator.checkpoints is not None:
        choice = named_checkpoints(generator.checkpoints, available)
        how = "Checkpoints named in the pipeline file"
    elif ema:
        fid = {s: r.fid for s, r in best_ema_rows(ema).items() if s in available}
        val = {s: v for s, v in val_loss_curve(gen.losses).items() if s in available}
        choice = propose_checkpoints(fid, val, count=generator.n_checkpoints)
        how = (
            "Checkpoints and EMA lengths proposed together by radsynth from the EMA sweep (each "
            "step scored by its best EMA) and the validation-loss curve"
        )
    else:
        fid = fid_curve(gen.fid)
        # A GAN has no validation loss (its losses.csv holds the adversarial terms).
        val = val_loss_curve(gen.losses) if generator.family == "diffusion" else {}
        fid = {s: v for s, v in fid.items() if s in available}
        val = {s: v for s, v in val.items() if s in available}
        choice = propose_checkpoints(fid, val, count=generator.n_checkpoints)
        how = "Checkpoints proposed by radsynth from the FID and validation-loss curves"
    if not choice.steps:
        raise RadsynthError(f"{generator.describe()}: no checkpoints to sample from")
    if ema:
        classic = {r.step: r.fid for r in ema if r.ema == "classic"}
        choice = with_ema_lengths(choice, ema, classic)
    write_choice(gen.choice, choice, how)
    return [gen.set_of(step) for step in choice.steps]


def run(cfg: RunConfig) -> StageResult:
    """The ``radsynth run`` stage: parse the pipeline file and run it."""
    spec = load_spec(cfg.pipeline, run_dir=cfg.run_dir)
    return run_pipeline(spec, partial_readers=cfg.partial_readers)
