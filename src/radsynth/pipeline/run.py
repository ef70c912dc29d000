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

from radsynth import registry
from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.pipeline.choose import (
    CheckpointChoice,
    named_checkpoints,
    propose_checkpoints,
    read_curve,
    write_choice,
)
from radsynth.pipeline.keep import (
    REVIEW_DIR,
    collect_kept,
    decide_kept,
    park_unchosen_samples,
    write_keep_record,
)
from radsynth.pipeline.readers import reader_progress
from radsynth.pipeline.spec import PipelineSpec, load_spec
from radsynth.pipeline.steps import Step, StepOutcome, run_step, step_key
from radsynth.screening.decisions import ImageFate
from radsynth.stage import StageResult, atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Run the whole pipeline described by a YAML file into one run folder."""

    pipeline: Path = arg(help="pipeline YAML file (see examples/)", positional=True)
    run_dir: Path | None = arg(None, help="run folder; default: the file's run_dir or runs/NAME")
    partial_readers: bool = arg(
        False, help="go on to stats even if some readers have not finished (warns)"
    )


def _step_label(step: int) -> str:
    return f"step-{step:07d}"


def _print(outcome: StepOutcome, echo: Callable[[str], None], seconds: float | None = None) -> None:
    took = f" ({seconds:.1f} s)" if seconds is not None else ""
    echo(f"[{outcome.status:>7}] {outcome.name}: {outcome.summary} -> {outcome.out}{took}")


def run_pipeline(
    spec: PipelineSpec, *, partial_readers: bool = False, echo: Callable[[str], None] = print
) -> StageResult:
    """Run every stage of ``spec`` in order, skipping those whose inputs and config are unchanged.

    Args:
        spec: the parsed pipeline file.
        partial_readers: continue to stats before every reader has finished.
        echo: where the one-line-per-stage summaries go.
    """
    run = spec.run_dir
    run.mkdir(parents=True, exist_ok=True)
    keys: dict[str, str] = {}
    # With a source folder there are no phantoms; ingest's key then hashes the source itself.
    absent = {"phantoms"} if spec.source is not None else set()

    def do(step: Step) -> StepOutcome:
        start = time.perf_counter()  # wall time per step, so a user sees where the time goes
        outcome = run_step(step, run, keys, absent)
        _print(outcome, echo, time.perf_counter() - start)
        return outcome

    data_src = spec.source
    if data_src is None:
        do(Step("phantoms", registry.loader("phantoms"), run / "phantoms",
                {"out": run / "phantoms"}, spec.section("phantoms")))  # fmt: skip
        data_src = run / "phantoms" / "images"
    do(Step("ingest", registry.loader("ingest"), run / "data",
            {"src": data_src, "out": run / "data"}, spec.section("ingest"),
            after=["phantoms"], inputs=[spec.source] if spec.source else []))  # fmt: skip
    do(Step("train", registry.loader("train"), run / "train",
            {"data": run / "data", "out": run / "train"}, spec.section("train"),
            after=["ingest"]))  # fmt: skip
    # The real reference set is a folder inside the run: data/train (default) or data/val.
    sweep = spec.section("fid_sweep")
    real = run / sweep.pop("real", "data/train")
    do(Step("fid_sweep", registry.loader("fid-sweep"), run / "fid_sweep",
            {"run": run / "train", "out": run / "fid_sweep", "real": real}, sweep,
            after=["train"]))  # fmt: skip

    choice = _choose(spec, run)
    park_unchosen_samples(run / "samples", run / "samples-unused", map(_step_label, choice.steps))
    sample_names = []
    for step in choice.steps:
        name = f"sample {_step_label(step)}"
        sample_names.append(name)
        do(Step(name, registry.loader("sample"), run / "samples" / _step_label(step),
                {"ckpt": _checkpoint_path(run, step), "out": run / "samples" / _step_label(step)},
                spec.section("sample"), after=["train"]))  # fmt: skip
    do(Step("orient", registry.loader("orient"), run / "oriented",
            {"src": run / "samples", "out": run / "oriented"}, spec.section("orient"),
            after=sample_names))  # fmt: skip
    do(Step("screen", registry.loader("screen"), run / "screen",
            {"src": run / "oriented", "out": run / "screen", "reference": run / "data" / "val"},
            spec.section("screen"), after=["orient", "ingest"]))  # fmt: skip
    # keep: all carries flagged images on (they stay marked in screen.csv and the report).
    # Reviewers' screening decisions (RUN/review) override the screen in either direction.
    # The audit compares samples as generated, in the orientation the model learned from its
    # training images: a flipped copy of a training image would not match it.
    screened = decide_kept(run, spec.keep, with_audit=False)
    collect_kept(screened, run / "samples", run / "kept_as_generated")
    keys["keep"] = step_key(spec.keep, [_fates_text(screened)])
    do(Step("audit", registry.loader("audit"), run / "audit",
            {"train": run / "data" / "train", "val": run / "data" / "val",
             "synthetic": run / "kept_as_generated", "out": run / "audit",
             "groups": run / "data" / "manifest.csv"},
            spec.section("audit"), after=["keep"]))  # fmt: skip
    # Pairs that reviewers agreed are memorized copies leave the set the readers see.
    fates = decide_kept(run, spec.keep, with_audit=True)
    write_keep_record(run / "keep", fates)
    kept = collect_kept(fates, run / "oriented", run / "kept")
    keys["exclude copies"] = step_key(spec.keep, [keys["audit"], _fates_text(fates)])
    _print(StepOutcome("keep", "ran", kept.summary, kept.out), echo)
    if "utility" in spec.sections:
        last = _step_label(choice.steps[-1])
        do(Step("utility", registry.loader("utility"), run / "utility",
                {"data": run / "data", "out": run / "utility", "audit": run / "audit",
                 "synthetic": run / "kept_as_generated" / last,
                 "synthetic_meta": run / "samples" / last / "meta"},
                spec.section("utility"), after=["exclude copies"]))  # fmt: skip
    if not (run / REVIEW_DIR).is_dir():
        echo(f"Review the screen's flags and the audit's pairs with `radsynth review "
             f"{run / REVIEW_DIR} --screen {run / 'screen'} --audit {run / 'audit'}`; "
             "decisions there change the kept set on the next run.")  # fmt: skip

    # Readers must not tell real from synthetic by facing: the real images shown are oriented to
    # the same canonical side as the synthetic ones.
    do(Step("orient real", registry.loader("orient"), run / "real_oriented",
            {"src": run / "data" / "val", "out": run / "real_oriented"}, spec.section("orient"),
            after=["ingest"]))  # fmt: skip
    synthetic = tuple(f"{_step_label(s)}={run / 'kept' / _step_label(s)}" for s in choice.steps)
    do(Step("study", registry.loader("study create"), run / "study",
            {"out": run / "study", "real": run / "real_oriented", "synthetic": synthetic},
            spec.section("study"), after=["exclude copies", "orient real"]))  # fmt: skip
    if spec.simulate_readers:
        _simulate(spec, run, keys, echo)
    progress = reader_progress(run / "study", "simulated" if spec.simulate_readers else "human")
    if not progress.finished and not partial_readers:
        echo(progress.describe())
        echo("The reader study is waiting for its raters: serve it with "
             f"`radsynth study serve {run / 'study'}`, send each rater their link (above), "
             "and run this command again once they have finished.")  # fmt: skip
        return StageResult(run, f"waiting for readers ({progress.summary})")
    if not progress.finished:
        log.warning("going on with partial reader answers: %s", progress.summary)

    responses = run / "study" / "export.csv"
    do(Step("export", registry.loader("study export"), responses,
            {"study": run / "study", "out": responses}, {}, always=True))  # fmt: skip
    do(Step("stats", registry.loader("stats"), run / "stats",
            {"responses": responses, "out": run / "stats"}, spec.section("stats"),
            after=["export"]))  # fmt: skip
    # The release reads the review page's decisions too, which change outside the pipeline.
    review = [run / REVIEW_DIR] if (run / REVIEW_DIR).is_dir() else []
    do(Step("release", registry.loader("release"), run / "release",
            {"run": run, "out": run / "release", "keep": spec.keep}, spec.section("release"),
            after=["stats", "audit", "exclude copies", "fid_sweep", "ingest"],
            inputs=review))  # fmt: skip
    do(Step("report", registry.loader("report"), run / "report.html",
            {"run": run, "out": run / "report.html"}, spec.section("report"),
            after=["stats", "audit", "fid_sweep", "release"]))  # fmt: skip
    return StageResult(run, f"report at {run / 'report.html'}")


def _simulate(spec: PipelineSpec, run: Path, keys: dict[str, str], echo: Callable) -> None:
    """Answer the study with simulated raters, once per study (a marker file records it)."""
    marker = run / "study" / "simulated.json"
    step = Step("simulate", registry.loader("study simulate"), marker,
                {"study": run / "study"}, spec.section("simulate"), after=["study"])  # fmt: skip
    outcome = run_step(step, run, keys)
    if outcome.status != "cached":
        atomic_write_text(marker, json.dumps({"simulated": True, "summary": outcome.summary}))
    _print(outcome, echo)


def _fates_text(fates: list[ImageFate]) -> str:
    """What the kept set depends on, as text for a cache key."""
    return "\n".join(f"{f.image} {f.final} {int(f.copy)} {int(f.kept)}" for f in fates)


def _checkpoint_path(run: Path, step: int) -> Path:
    return run / "train" / "checkpoints" / _step_label(step)


def _choose(spec: PipelineSpec, run: Path) -> CheckpointChoice:
    """Use the named checkpoints, or propose them from the curves; write checkpoints.json."""
    from radsynth.training.checkpoint import list_checkpoints

    available = sorted(int(p.name.split("-")[-1]) for p in list_checkpoints(run / "train"))
    if spec.checkpoints is not None:
        choice = named_checkpoints(spec.checkpoints, available)
        how = "Checkpoints named in the pipeline file"
    else:
        fid = read_curve(run / "fid_sweep" / "fid.csv", "fid")
        val = read_curve(run / "train" / "losses.csv", "val_loss")
        fid = {s: v for s, v in fid.items() if s in available}
        val = {s: v for s, v in val.items() if s in available}
        choice = propose_checkpoints(fid, val, count=spec.n_checkpoints)
        how = "Checkpoints proposed by radsynth from the FID and validation-loss curves"
    if not choice.steps:
        raise RadsynthError("no checkpoints to sample from")
    write_choice(run / "checkpoints.json", choice, how)
    return choice


def run(cfg: RunConfig) -> StageResult:
    """The ``radsynth run`` stage: parse the pipeline file and run it."""
    spec = load_spec(cfg.pipeline, run_dir=cfg.run_dir)
    return run_pipeline(spec, partial_readers=cfg.partial_readers)
