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

from radsynth.audit.audit import audit
from radsynth.config import arg
from radsynth.data.ingest import ingest
from radsynth.data.phantoms import make_phantoms
from radsynth.errors import RadsynthError
from radsynth.evaluation.checkpoints import fid_sweep
from radsynth.layout import RunLayout, checkpoint_name, checkpoint_step
from radsynth.pipeline.choose import (
    CheckpointChoice,
    fid_curve,
    named_checkpoints,
    propose_checkpoints,
    val_loss_curve,
    write_choice,
)
from radsynth.pipeline.configs import (
    StageConfigs,
    build_stage_configs,
    for_checkpoints,
    sample_config,
    source_inputs,
)
from radsynth.pipeline.keep import keep, park_unchosen_samples
from radsynth.pipeline.legacy import legacy_keep_key
from radsynth.pipeline.lock import run_lock
from radsynth.pipeline.readers import reader_progress
from radsynth.pipeline.spec import PipelineSpec, load_spec
from radsynth.pipeline.steps import Step, StepOutcome, run_step, sample_step
from radsynth.release.build import release
from radsynth.report.build import report
from radsynth.sampling.sample import sample
from radsynth.screening.decisions import AUDIT_ADJUDICATION, SCREEN_DECISIONS
from radsynth.screening.orient import orient
from radsynth.screening.screen import screen
from radsynth.stage import StageResult, atomic_write_text
from radsynth.stats.analysis import stats
from radsynth.study.create import create_study
from radsynth.study.export import export_responses
from radsynth.study.simulate import simulate_raters
from radsynth.training.checkpoint import list_checkpoints
from radsynth.training.train import train
from radsynth.utility.stage import utility

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Run the whole pipeline described by a YAML file into one run folder."""

    pipeline: Path = arg(help="pipeline YAML file (see examples/)", positional=True)
    run_dir: Path | None = arg(None, help="run folder; default: the file's run_dir or runs/NAME")
    partial_readers: bool = arg(
        False, help="go on to stats even if some readers have not finished (warns)"
    )


def _print(outcome: StepOutcome, echo: Callable[[str], None], seconds: float | None = None) -> None:
    took = f" ({seconds:.1f} s)" if seconds is not None else ""
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
    cfgs = build_stage_configs(spec, layout)
    layout.root.mkdir(parents=True, exist_ok=True)
    with run_lock(layout.lock):
        return _run_stages(spec, cfgs, layout, partial_readers, echo)


def _run_stages(
    spec: PipelineSpec,
    cfgs: StageConfigs,
    run: RunLayout,
    partial_readers: bool,
    echo: Callable[[str], None],
) -> StageResult:
    keys: dict[str, str] = {}
    # With a source folder there are no phantoms; ingest's key then hashes the source itself.
    absent = {"phantoms"} if cfgs.phantoms is None else set()
    # Reviewers' decisions change outside the pipeline: their files go into the keys that use them.
    decisions = [run.review / SCREEN_DECISIONS, run.review / AUDIT_ADJUDICATION]

    def do(step: Step) -> StepOutcome:
        start = time.perf_counter()  # wall time per step, so a user sees where the time goes
        outcome = run_step(step, run.root, keys, absent)
        _print(outcome, echo, time.perf_counter() - start)
        return outcome

    if cfgs.phantoms is not None:
        do(Step("phantoms", make_phantoms, cfgs.phantoms, run.phantoms))
    do(
        Step(
            "ingest",
            ingest,
            cfgs.ingest,
            run.data,
            after=["phantoms"],
            inputs=source_inputs(spec, cfgs.ingest),
        )
    )
    do(Step("train", train, cfgs.train, run.train, after=["ingest"]))
    do(Step("fid_sweep", fid_sweep, cfgs.fid_sweep, run.fid_sweep, after=["train"]))

    choice = _choose(spec, run)
    cfgs = for_checkpoints(cfgs, run, choice.steps)
    park_unchosen_samples(run.samples, run.samples_unused, map(checkpoint_name, choice.steps))
    sample_names = []
    for step in choice.steps:
        name = sample_step(checkpoint_name(step))
        sample_names.append(name)
        # An earlier sample folder of this checkpoint goes to samples-unused/, not beside it:
        # orient reads every folder under samples/.
        do(
            Step(
                name,
                sample,
                sample_config(cfgs, run, step),
                run.samples_of(step),
                after=["train"],
                aside=run.samples_unused,
            )
        )
    do(Step("orient", orient, cfgs.orient, run.oriented, after=sample_names))
    do(Step("screen", screen, cfgs.screen, run.screen, after=["orient", "ingest"]))
    # keep: all carries flagged images on (they stay marked in screen.csv and the report).
    # Reviewers' screening decisions (RUN/review) override the screen in either direction.
    # The audit compares samples as generated, in the orientation the model learned from its
    # training images: a flipped copy of a training image would not match it.
    old = legacy_keep_key(run.root, run.screen, run.review, spec.keep)
    do(
        Step(
            "keep",
            keep,
            cfgs.keep,
            run.kept_as_generated,
            after=["screen", *sample_names],
            inputs=decisions[:1],
            legacy_key=old,
        )
    )
    do(Step("audit", audit, cfgs.audit, run.audit, after=["keep"]))
    # Pairs that reviewers agreed are memorized copies leave the set the readers see.
    old = legacy_keep_key(run.root, run.screen, run.review, spec.keep, audit_key=keys["audit"])
    do(
        Step(
            "exclude copies",
            keep,
            cfgs.exclude_copies,
            run.kept,
            after=["keep", "audit", "orient"],
            inputs=decisions,
            legacy_key=old,
        )
    )
    if cfgs.utility is not None:
        do(Step("utility", utility, cfgs.utility, run.utility, after=["exclude copies"]))
    if not run.review.is_dir():
        echo(
            f"Review the screen's flags, the audit's pairs and ingest's uncertain films with "
            f"`radsynth review {run.review} --screen {run.screen} --audit {run.audit} "
            f"--ingest {run.data}`; decisions there change the kept set (and bring decided "
            "films back into training) on the next run."
        )

    # Readers must not tell real from synthetic by facing: the real images shown are oriented to
    # the same canonical side as the synthetic ones.
    do(Step("orient real", orient, cfgs.orient_real, run.real_oriented, after=["ingest"]))
    do(Step("study", create_study, cfgs.study, run.study, after=["exclude copies", "orient real"]))
    if cfgs.simulate is not None:
        _simulate(cfgs, run, keys, echo)
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

    do(Step("export", export_responses, cfgs.export, run.study_export, always=True))
    do(Step("stats", stats, cfgs.stats, run.stats, after=["export"]))
    # The release reads the review page's decisions too (their files are in exclude copies' key;
    # the folder itself stays in release's key as before, so older run folders stay cached).
    review = [run.review] if run.review.is_dir() else []
    do(
        Step(
            "release",
            release,
            cfgs.release,
            run.release,
            after=["stats", "audit", "exclude copies", "fid_sweep", "ingest"],
            inputs=review,
        )
    )
    do(
        Step(
            "report",
            report,
            cfgs.report,
            run.report,
            after=["stats", "audit", "fid_sweep", "release"],
        )
    )
    return StageResult(run.root, f"report at {run.report}")


def _simulate(cfgs: StageConfigs, run: RunLayout, keys: dict[str, str], echo: Callable) -> None:
    """Answer the study with simulated raters, once per study (a marker file records it)."""
    step = Step("simulate", simulate_raters, cfgs.simulate, run.simulated, after=["study"])
    outcome = run_step(step, run.root, keys)
    if outcome.status != "cached":
        atomic_write_text(
            run.simulated, json.dumps({"simulated": True, "summary": outcome.summary})
        )
    _print(outcome, echo)


def _choose(spec: PipelineSpec, run: RunLayout) -> CheckpointChoice:
    """Use the named checkpoints, or propose them from the curves; write checkpoints.json."""
    available = sorted(checkpoint_step(p.name) for p in list_checkpoints(run.train))
    if spec.checkpoints is not None:
        choice = named_checkpoints(spec.checkpoints, available)
        how = "Checkpoints named in the pipeline file"
    else:
        fid = fid_curve(run.fid)
        val = val_loss_curve(run.losses)
        fid = {s: v for s, v in fid.items() if s in available}
        val = {s: v for s, v in val.items() if s in available}
        choice = propose_checkpoints(fid, val, count=spec.n_checkpoints)
        how = "Checkpoints proposed by radsynth from the FID and validation-loss curves"
    if not choice.steps:
        raise RadsynthError("no checkpoints to sample from")
    write_choice(run.choice, choice, how)
    return choice


def run(cfg: RunConfig) -> StageResult:
    """The ``radsynth run`` stage: parse the pipeline file and run it."""
    spec = load_spec(cfg.pipeline, run_dir=cfg.run_dir)
    return run_pipeline(spec, partial_readers=cfg.partial_readers)
