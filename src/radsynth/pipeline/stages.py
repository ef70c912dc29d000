"""The stage table: every stage of radsynth declared once.

:data:`STAGES` holds one row per stage: its subcommand (``radsynth ingest``), its help line, and
where its config dataclass and stage function live. The modules are imported only when a stage
runs (:meth:`Stage.load`), so ``radsynth --help`` and the reader-study server start without torch;
the names are fixed here, never read from user input.

:data:`PIPELINE` holds one row per step of ``radsynth run``, in the order they run: the step's
name in ``pipeline.json``, the stage it calls, the YAML section holding the user's fields, its
output, the fields the pipeline sets (the folders inside the run), the steps it reads from, and
whatever else its cache key needs. The CLI's command tree (:data:`COMMANDS`), the pipeline
file's sections (:func:`sections`), the step names (:func:`step_names`) and every ``after=``
list derive from these two tables; adding a stage means its own module plus a row in each.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from radsynth.layout import GeneratorLayout, RunLayout, SyntheticSet
from radsynth.records.choice import read_choice

Loader = Callable[[], tuple[type, Callable[[Any], Any]]]

#: fid_sweep's ``real`` (the reference set) is a folder inside the run, given relative to it.
FID_REAL_DEFAULT = "data/train"


@dataclass(frozen=True)
class Stage:
    """One stage: a typed function over a frozen config dataclass, and its subcommand."""

    command: str  # subcommand words, e.g. "study create"; the pipeline's steps name it so
    help: str  # one line for `radsynth --help`
    module: str  # the module holding config and function, imported when the stage runs
    config: str  # the config dataclass's name in `module`
    function: str  # the stage function's name in `module`
    cli: bool = True  # False: a step of `radsynth run` only, with no subcommand

    def load(self) -> tuple[type, Callable[[Any], Any]]:
        """Import the stage's module; return (config class, stage function)."""
        module = importlib.import_module(self.module)
        return getattr(module, self.config), getattr(module, self.function)


def _s(command: str, help: str, module: str, config: str, function: str, **kw: Any) -> Stage:
    return Stage(command, help, f"radsynth.{module}", config, function, **kw)


# Subcommands list in `radsynth --help` in this order.
STAGES: tuple[Stage, ...] = (
    _s("phantoms", "draw procedural lateral C-spine radiograph phantoms",
       "data.phantoms", "PhantomConfig", "make_phantoms"),
    _s("ingest", "read radiographs (PNG/JPEG/TIFF/DICOM), normalise, dedupe, split",
       "data.ingest", "IngestConfig", "ingest"),
    _s("train", "train a DDPM on an ingested dataset",
       "training.train", "TrainConfig", "train"),
    _s("train-autoencoder", "train the KL autoencoder of a latent diffusion model",
       "latent.train", "AutoencoderConfig", "train_autoencoder"),
    _s("recon-report", "an autoencoder checkpoint's reconstruction report on one split",
       "latent.evaluate", "ReconReportConfig", "recon_report"),
    _s("train-gan", "train a class-conditional GAN (R3GAN) on an ingested dataset",
       "gan.train", "GanTrainConfig", "train_gan"),
    _s("fid-sweep", "FID/KID/precision/recall across a run's checkpoints",
       "evaluation.checkpoints", "FidSweepConfig", "fid_sweep"),
    _s("ema-sweep", "FID/KID of post-hoc EMA lengths reconstructed from a --ema posthoc run",
       "evaluation.ema_sweep", "EmaSweepConfig", "ema_sweep"),
    _s("sample", "sample synthetic images from a checkpoint",
       "sampling.sample", "SampleConfig", "sample"),
    _s("sampler-sweep", "FID of each sampler and step count, against the real set",
       "evaluation.samplers", "SamplerSweepConfig", "sampler_sweep"),
    _s("compare-generators", "FID/KID (bootstrap CI)/precision/recall of several generators' sets",
       "evaluation.generators", "CompareGeneratorsConfig", "compare_generators"),
    _s("fid", "FID, KID and precision/recall between two image folders",
       "metrics.compare", "FidConfig", "fid"),
    _s("orient", "detect facing direction and flip images to a canonical side",
       "screening.orient", "OrientConfig", "orient"),
    _s("mirror-model", "train orient's frontal mirror detector on standard frontal films",
       "screening.mirror_model", "MirrorModelConfig", "mirror_model"),
    _s("screen", "flag anatomically implausible samples with a calibrated score",
       "screening.screen", "ScreenConfig", "screen"),
    _s("keep", "the screened images that go on, and each image's fate",
       "fates.keep", "KeepConfig", "keep", cli=False),
    _s("audit", "memorization audit: nearest training neighbours of synthetic images",
       "audit.audit", "AuditConfig", "audit"),
    _s("review", "web page: screening flags, audit pairs and the films ingest kept out",
       "review.serve", "ReviewConfig", "review"),
    _s("study create", "create a reader study from real and synthetic folders",
       "study.create", "CreateStudyConfig", "create_study"),
    _s("study serve", "serve the reader-study web app",
       "study.serve", "ServeConfig", "serve"),
    _s("study export", "export answers as a long-format CSV",
       "study.export", "ExportConfig", "export_responses"),
    _s("study simulate", "answer a study with simulated raters",
       "study.simulate", "SimulateConfig", "simulate_raters"),
    _s("study links", "invitation links: add, reissue, close, reopen, show",
       "study.links", "LinksConfig", "manage_links"),
    _s("stats", "reader-study statistics: accuracy, kappa, Wilcoxon, Holm, TOST",
       "stats.analysis", "StatsConfig", "stats"),
    _s("mrmc", "multi-reader multi-case ROC analysis (Obuchowski-Rockette, Hillis ddf)",
       "stats.mrmc_stage", "MrmcConfig", "mrmc"),
    _s("utility", "AUROC of classifiers trained on real, synthetic and mixed data",
       "utility.stage", "UtilityConfig", "utility"),
    _s("report", "one self-contained HTML report for a pipeline run",
       "report.build", "ReportConfig", "report"),
    _s("release", "release the kept images as a dataset: card, checksums, leak checks",
       "release.build", "ReleaseConfig", "release"),
    _s("run", "run the whole pipeline from a YAML config",
       "pipeline.run", "RunConfig", "run"),
    _s("demo", "run the whole pipeline on built-in phantoms",
       "pipeline.demo", "DemoConfig", "demo"),
    _s("bench train", "training images/s and MFU for a preset",
       "training.bench", "BenchTrainConfig", "bench_train"),
    _s("bench sample", "sampling images/s and MFU for a checkpoint or preset",
       "sampling.bench", "BenchSampleConfig", "bench_sample"),
    _s("bench gpu", "the GPU suite: train and sample, with and without compile",
       "bench.gpu", "BenchGpuConfig", "bench_gpu"),
    _s("bench release", "seconds to release N images, leak checks included",
       "release.bench", "BenchReleaseConfig", "bench_release"),
    _s("bench study", "reader-study server requests/s and latency under N raters",
       "study.bench", "BenchStudyConfig", "bench_study"),
    _s("bench polarity", "accuracy of negative/rotated-film detection, planted",
       "bench.polarity", "BenchPolarityConfig", "bench_polarity"),
    _s("bench orient", "accuracy of mirrored-film / facing detection, planted",
       "screening.bench", "BenchFilmsConfig", "bench_orient"),
    _s("bench screen", "screen recall per planted implausibility and measured FRR",
       "screening.bench_screen", "BenchScreenConfig", "bench_screen"),
    _s("bench audit", "memorization audit: recall of planted near-copies, false flags",
       "audit.bench", "BenchAuditConfig", "bench_audit"),
    _s("bench audit-scale", "copy audit time and memory, extrapolated to 100k x 5k",
       "audit.bench", "BenchAuditScaleConfig", "bench_audit_scale"),
)  # one stage per two lines: command, help / module, config, function  # fmt: skip

#: Help lines of the command groups (a group is the first word of several commands).
GROUPS: dict[str, str] = {
    "study": "the blinded reader study (clinical Turing test)",
    "bench": "benchmarks that print measured throughput",
}


def stage(command: str) -> Stage:
    """The row of ``command`` (e.g. ``"study create"``)."""
    for row in STAGES:
        if row.command == command:
            return row
    raise KeyError(f"no stage {command!r}; stages: {', '.join(s.command for s in STAGES)}")


def loader(command: str) -> Loader:
    """The loader of a subcommand path such as ``"study create"``."""
    return stage(command).load


def command_tree() -> dict[str, tuple[str, Any]]:
    """The CLI's tree from :data:`STAGES`: name -> (help, loader), or group -> (help, tree)."""
    tree: dict[str, tuple[str, Any]] = {}
    for row in STAGES:
        if not row.cli:
            continue
        first, _, rest = row.command.partition(" ")
        if not rest:
            tree[first] = (row.help, row.load)
            continue
        group = tree.setdefault(first, (GROUPS[first], {}))[1]
        group[rest] = (row.help, row.load)
    return tree


#: Subcommand tree: name -> (one-line help, loader) or name -> (help, nested tree).
COMMANDS = command_tree()


# ------------------------------------------------------------------------------ pipeline steps


#: The generator families, each with the section (and so the training stage) that makes it.
FAMILIES: dict[str, str] = {"diffusion": "train", "gan": "train_gan"}


class GeneratorPlan(Protocol):
    """What the step table reads of one generator (:class:`~.spec.GeneratorSpec`)."""

    name: str | None
    family: str
    checkpoints: tuple[int, ...] | None
    sections: dict[str, dict[str, Any]]

    def section(self, stage: str) -> dict[str, Any]: ...


class RunPlan(Protocol):
    """What the step table reads of a parsed pipeline file (:class:`~.spec.PipelineSpec`)."""

    source: Path | None
    keep: str
    simulate_readers: bool
    sections: dict[str, dict[str, Any]]
    generators: Sequence[GeneratorPlan]

    def section(self, stage: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Wiring:
    """What a step's wiring knows: the pipeline file, the run folder, the sets chosen, and the
    generator (or set) of a generator's (or a set's) step."""

    spec: RunPlan
    run: RunLayout
    chosen: tuple[SyntheticSet, ...] = ()  # every generator's chosen sets (empty before)
    generator: str | None = None  # the generator of a "generator" or "set" step
    synthetic: SyntheticSet = SyntheticSet(None, 0)  # the set of a "set" step

    @property
    def gen(self) -> GeneratorLayout:
        """The folders of this step's generator."""
        return self.run.generator(self.generator)


Wire = Callable[[Wiring, dict[str, Any]], dict[str, Any]]


def _always(spec: RunPlan) -> bool:
    return True


def _no_inputs(w: Wiring, cfg: Any) -> list[Path]:
    return []


@dataclass(frozen=True)
class PipelineStep:
    """One step of ``radsynth run``: a stage call with the run's folders filled in."""

    name: str  # its name in pipeline.json and in the summary
    stage: str  # the command of the stage it calls (a row of STAGES)
    section: str | None  # YAML section holding the user's fields; None: no user fields
    out: Callable[[Wiring], Path]  # its output folder (or file)
    wire: Wire  # the fields the pipeline sets; may take keys out of the user's section
    after: tuple[str, ...] = ()  # steps it reads from; "sample" stands for every sample step
    when: Callable[[RunPlan], bool] = _always  # whether this run has the step
    inputs: Callable[[Wiring, Any], list[Path]] = _no_inputs  # from outside the run, in the key
    scope: str = "run"  # "run": once; "generator": per generator ("<name> GEN"); "set": per
    # chosen set ("<name> [GEN/]step-NNNNNNN"); the unnamed generator's step is "<name>"
    family: str | None = None  # a generator step of one family only (a key of FAMILIES)
    optional: bool = False  # a generator step only of the generators whose file has its section
    always: bool = False  # never cached: its input changes outside the pipeline (answers)
    marker: str | None = None  # the stage writes elsewhere; `out` is a marker file {marker: true}
    aside: Callable[[Wiring], Path] | None = None  # where an earlier output goes
    before: str | None = None  # a decision the run makes before this step (see run.py)


def _ingest_wire(w: Wiring, user: dict[str, Any]) -> dict[str, Any]:
    """Ingest's folders, and the reviewers' decisions on its review.csv once there are any."""
    src = w.spec.source if w.spec.source is not None else w.run.phantom_images
    wired: dict[str, Any] = {"src": src, "out": w.run.data}
    if w.run.ingest_decisions.is_file():
        wired["review_decisions"] = w.run.ingest_decisions
    return wired


def source_inputs(w: Wiring, ingest: Any) -> list[Path]:
    """Folders and files from outside the run whose contents go into ingest's cache key: the
    source images and, when ingest was given reviewers' decisions (:func:`_ingest_wire`), that
    file (only then, so that run folders without decisions keep their keys)."""
    inputs = [w.spec.source] if w.spec.source is not None else []
    decisions = ingest.review_decisions
    return inputs + [decisions] if decisions is not None else inputs


def _fid_sweep_wire(w: Wiring, user: dict[str, Any]) -> dict[str, Any]:
    real = w.run.inside(str(user.pop("real", FID_REAL_DEFAULT)))
    return {"run": w.gen.train, "out": w.gen.fid_sweep, "real": real}


def _ema_sweep_wire(w: Wiring, user: dict[str, Any]) -> dict[str, Any]:
    real = w.run.inside(str(user.pop("real", FID_REAL_DEFAULT)))
    return {"train": w.gen.train, "out": w.gen.ema_sweep, "real": real}


def sampled_checkpoint(w: Wiring) -> Path:
    """The checkpoint a set samples: the one its generator's choice names for the step (a
    post-hoc EMA reconstruction chosen with it), else the training run's own."""
    folder = None
    if w.gen.choice.is_file():
        folder = read_choice(w.gen.choice).checkpoints.get(w.synthetic.step)
    return Path(folder) if folder else w.gen.checkpoint(w.synthetic.step)


def _keep_wire(w: Wiring, audit: bool) -> dict[str, Any]:
    common = {"screen": w.run.screen, "review": w.run.review, "mode": w.spec.keep}
    if not audit:
        return {"images": w.run.samples, "out": w.run.kept_as_generated, **common}
    kept = {"images": w.run.oriented, "out": w.run.kept, "with_audit": True, "record": w.run.keep}
    return kept | common


def _review_files(w: Wiring, audit: bool) -> list[Path]:
    """The reviewers' decision files a keep step reads (they change outside the pipeline)."""
    files = [w.run.screen_decisions]
    return files + [w.run.audit_adjudication] if audit else files


def _audit_wire(w: Wiring, user: dict[str, Any]) -> dict[str, Any]:
    return {
        "train": w.run.split("train"),
        "val": w.run.split("val"),
        "out": w.run.audit,
        "synthetic": w.run.kept_as_generated,
        "groups": w.run.data_manifest,
    }


def last_sets(chosen: Sequence[SyntheticSet]) -> list[SyntheticSet]:
    """Each generator's last chosen set (its latest checkpoint), in the generators' order."""
    last: dict[str | None, SyntheticSet] = {}
    for s in chosen:
        last[s.generator] = s
    return list(last.values())


def _utility_wire(w: Wiring, user: dict[str, Any]) -> dict[str, Any]:
    """Each generator's last chosen set, kept, as generated (one synthetic arm per set); with
    one unnamed generator, the single set of earlier runs (the kept root before the choice)."""
    wired = {"data": w.run.data, "out": w.run.utility, "audit": w.run.audit}
    sets = last_sets(w.chosen)
    if len(sets) <= 1 and all(s.generator is None for s in sets):
        last = sets[0] if sets else None
        synthetic = w.run.kept_as_generated if last is None else w.run.kept_as_generated_of(last)
        meta = w.run.samples if last is None else w.run.sample_meta(last)
        return wired | {"synthetic": synthetic, "synthetic_meta": meta}
    named = tuple(f"{s.name}={w.run.kept_as_generated_of(s)}" for s in sets)
    metas = tuple(f"{s.name}={w.run.sample_meta(s)}" for s in sets)
    return wired | {"synthetic_sets": named, "synthetic_sets_meta": metas}


def _compare_wire(w: Wiring, user: dict[str, Any]) -> dict[str, Any]:
    """Every chosen set, kept, as generated, against the ingest's test split (read by nothing
    that chose a setting); per class too when a generator is class-conditional (the real
    classes from ingest's manifest, the synthetic ones from the sidecars)."""
    wired = {
        "real": w.run.split("test"),
        "out": w.run.compare,
        "sets": tuple(f"{s.name}={w.run.kept_as_generated_of(s)}" for s in w.chosen),
        "sets_meta": tuple(f"{s.name}={w.run.sample_meta(s)}" for s in w.chosen),
    }
    return wired | ({"manifest": w.run.data_manifest} if conditional(w.spec) else {})


def conditional(spec: RunPlan) -> bool:
    """Whether a generator of the run is class-conditional (its training's ``condition_on``)."""
    return any(g.section(FAMILIES[g.family]).get("condition_on") for g in spec.generators)


def _study_wire(w: Wiring, user: dict[str, Any]) -> dict[str, Any]:
    """The study's folders and one synthetic set per chosen set; a per-class study
    (``finding_per_class: true``) also reads the real images' classes from ingest's manifest
    and the samples' from their sidecars (kept images are copies)."""
    sets = tuple(f"{s.name}={w.run.kept_of(s)}" for s in w.chosen)
    wired: dict[str, Any] = {"out": w.run.study, "real": w.run.real_oriented, "synthetic": sets}
    if user.get("finding_per_class"):
        meta = tuple(f"{s.name}={w.run.sample_meta(s)}" for s in w.chosen)
        wired |= {"real_manifest": w.run.data_manifest, "synthetic_meta": meta}
    return wired


def _release_inputs(w: Wiring, cfg: Any) -> list[Path]:
    # The review folder itself stays in release's key as before, so older folders stay cached.
    return [w.run.review] if w.run.review.is_dir() else []


def _step(name: str, stage: str, section: str | None, out: Callable, wire: Wire, **kw: Any):
    return PipelineStep(name, stage, section, out, wire, **kw)


#: The steps of ``radsynth run``, in the order they run. ``before`` names a decision the run
#: makes first: "choose" the checkpoints, "review" (point at the review page), "readers" (wait
#: for the reader study's answers).
PIPELINE: tuple[PipelineStep, ...] = (
    _step("phantoms", "phantoms", "phantoms", lambda w: w.run.phantoms,
          lambda w, u: {"out": w.run.phantoms}, when=lambda s: s.source is None),
    _step("ingest", "ingest", "ingest", lambda w: w.run.data, _ingest_wire,
          after=("phantoms",), inputs=source_inputs),
    # Each generator trains with its family's stage: one "train" step per generator.
    _step("train", "train", "train", lambda w: w.gen.train,
          lambda w, u: {"data": w.run.data, "out": w.gen.train}, after=("ingest",),
          scope="generator", family="diffusion"),
    _step("train", "train-gan", "train_gan", lambda w: w.gen.train,
          lambda w, u: {"data": w.run.data, "out": w.gen.train}, after=("ingest",),
          scope="generator", family="gan"),
    _step("fid_sweep", "fid-sweep", "fid_sweep", lambda w: w.gen.fid_sweep, _fid_sweep_wire,
          after=("train",), scope="generator"),
    # With `ema_sweep:` (a `train: {ema: posthoc}` generator) the checkpoints and their EMA
    # lengths are chosen together from its rows (pipeline/choose.py).
    _step("ema_sweep", "ema-sweep", "ema_sweep", lambda w: w.gen.ema_sweep, _ema_sweep_wire,
          after=("train",), scope="generator", family="diffusion", optional=True),
    # An earlier sample folder of a set goes to samples-unused/, not beside it: orient reads
    # every folder under samples/.
    _step("sample", "sample", "sample", lambda w: w.run.samples_of(w.synthetic),
          lambda w, u: {"ckpt": sampled_checkpoint(w), "out": w.run.samples_of(w.synthetic)},
          after=("train", "ema_sweep"), scope="set", aside=lambda w: w.run.samples_unused,
          before="choose"),
    _step("orient", "orient", "orient", lambda w: w.run.oriented,
          lambda w, u: {"src": w.run.samples, "out": w.run.oriented}, after=("sample",)),
    _step("screen", "screen", "screen", lambda w: w.run.screen,
          lambda w, u: {"src": w.run.oriented, "out": w.run.screen,
                        "reference": w.run.split("val")}, after=("orient", "ingest")),
    # keep: all carries flagged images on (they stay marked in screen.csv and the report).
    # Reviewers' screening decisions override the screen in either direction. The audit
    # compares samples as generated, in the orientation the model learned: a flipped copy of a
    # training image would not match it.
    _step("keep", "keep", None, lambda w: w.run.kept_as_generated,
          lambda w, u: _keep_wire(w, audit=False), after=("screen", "sample"),
          inputs=lambda w, c: _review_files(w, audit=False)),
    _step("audit", "audit", "audit", lambda w: w.run.audit, _audit_wire, after=("keep",)),
    # Pairs that reviewers agreed are memorized copies leave the set the readers see.
    _step("exclude copies", "keep", None, lambda w: w.run.kept,
          lambda w, u: _keep_wire(w, audit=True), after=("keep", "audit", "orient"),
          inputs=lambda w, c: _review_files(w, audit=True)),
    _step("utility", "utility", "utility", lambda w: w.run.utility, _utility_wire,
          after=("exclude copies",), when=lambda s: "utility" in s.sections),
    # The chosen sets side by side against the test split (a `compare:` section; needs ingest's
    # test_fraction): FID, KID with CI, precision/recall per set and class at matched N.
    _step("compare", "compare-generators", "compare", lambda w: w.run.compare, _compare_wire,
          after=("exclude copies", "ingest"), when=lambda s: "compare" in s.sections),
    # Readers must not tell real from synthetic by facing: the real images shown are oriented
    # to the same canonical side as the synthetic ones.
    _step("orient real", "orient", "orient", lambda w: w.run.real_oriented,
          lambda w, u: {"src": w.run.split("val"), "out": w.run.real_oriented},
          after=("ingest",), before="review"),
    _step("study", "study create", "study", lambda w: w.run.study, _study_wire,
          after=("exclude copies", "orient real")),
    _step("simulate", "study simulate", "simulate", lambda w: w.run.simulated,
          lambda w, u: {"study": w.run.study}, after=("study",), marker="simulated",
          when=lambda s: s.simulate_readers),
    _step("export", "study export", None, lambda w: w.run.study_export,
          lambda w, u: {"study": w.run.study, "out": w.run.study_export}, always=True,
          before="readers"),
    _step("stats", "stats", "stats", lambda w: w.run.stats,
          lambda w, u: {"responses": w.run.study_export, "out": w.run.stats}, after=("export",)),
    # The release reads the review page's decisions too (their files are in exclude copies'
    # key; the folder itself is in release's key).
    _step("release", "release", "release", lambda w: w.run.release,
          lambda w, u: {"run": w.run.root, "out": w.run.release, "keep": w.spec.keep},
          after=("stats", "audit", "exclude copies", "fid_sweep", "ingest"),
          inputs=_release_inputs),
    _step("report", "report", "report", lambda w: w.run.report,
          lambda w, u: {"run": w.run.root, "out": w.run.report},
          after=("stats", "audit", "fid_sweep", "release", "utility", "compare")),
)  # one step per two or three lines, its wiring beside its name  # fmt: skip


def step_names() -> frozenset[str]:
    """Every step name of ``radsynth run`` (a generator's step adds " GEN", a set's step
    " [GEN/]step-NNNNNNN")."""
    return frozenset(s.name for s in PIPELINE)


def scope_of(name: str) -> str:
    """The scope of the rows named ``name`` ("run", "generator" or "set")."""
    return next(s.scope for s in PIPELINE if s.name == name)


def sections() -> tuple[str, ...]:
    """The sections a pipeline file may hold, in pipeline order."""
    return tuple(dict.fromkeys(s.section for s in PIPELINE if s.section is not None))


def generator_sections() -> tuple[str, ...]:
    """The sections each generator has of its own (its training, sweep and sampling)."""
    rows = (s for s in PIPELINE if s.scope != "run" and s.section is not None)
    return tuple(dict.fromkeys(s.section for s in rows))


def has_row(row: PipelineStep, generator: GeneratorPlan) -> bool:
    """Whether ``generator`` has the step of ``row``: a row of its family, and an optional row
    only when its pipeline file gives the row's section."""
    if row.family is not None and row.family != generator.family:
        return False
    return not row.optional or row.section in generator.sections


def instances(
    row: PipelineStep, spec: RunPlan, run: RunLayout, chosen: tuple[SyntheticSet, ...]
) -> list[Wiring]:
    """The wirings of one row in this run: none when the run leaves it out, one for a run step,
    one per generator of its family, or one per chosen set of such a generator."""
    if not row.when(spec):
        return []
    if row.scope == "run":
        return [Wiring(spec, run, chosen)]
    generators = {g.name: g for g in spec.generators}
    if row.scope == "generator":
        return [Wiring(spec, run, chosen, g.name) for g in spec.generators if has_row(row, g)]
    return [
        Wiring(spec, run, chosen, s.generator, s)
        for s in chosen
        if has_row(row, generators[s.generator])
    ]


def step_name(row: PipelineStep, w: Wiring) -> str:
    """A step's name in pipeline.json: ``sample gan/step-0004000`` for a set's step, ``train
    gan`` for a generator's, the bare name for the unnamed generator's and the run's."""
    if row.scope == "set":
        return f"{row.name} {w.synthetic.name}"
    if row.scope == "generator" and w.generator is not None:
        return f"{row.name} {w.generator}"
    return row.name


def expand_after(row: PipelineStep, w: Wiring) -> list[str]:
    """``after`` as step names: a generator's (or set's) step names stand for those of its own
    generator when ``row`` is itself a generator's (or set's) step, and for every generator's
    (and every chosen set's) otherwise."""
    own = row.scope != "run"
    plans = [g for g in w.spec.generators if not own or g.name == w.generator]
    names: list[str] = []
    for name in row.after:
        scope = scope_of(name)
        rows = [r for r in PIPELINE if r.name == name]
        mine = [g.name for g in plans if any(has_row(r, g) for r in rows)]
        if scope == "run":
            names.append(name)
        elif scope == "generator":
            names += [name if g is None else f"{name} {g}" for g in mine]
        else:
            names += [f"{name} {s.name}" for s in w.chosen if s.generator in mine]
    return names
