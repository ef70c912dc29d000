"""Every stage's config for one run, built from the pipeline file before any stage runs.

Each YAML section holds the user's fields of one stage; the pipeline fills in the folders from
the run layout (:class:`radsynth.layout.RunLayout`). All sections are checked here, up front, so
that a misspelled key, a bad value or a key the pipeline sets itself fails before anything is
written, with a one-line error that names the section, the key and the valid keys.

Configs whose inputs depend on what earlier stages decided (the checkpoints chosen for sampling,
the study's synthetic sets, the utility benchmark's images) are built here with the first
checkpoint's paths and re-targeted with :func:`dataclasses.replace` once the choice is known.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.audit.audit import AuditConfig
from radsynth.config import build_config
from radsynth.data.ingest import IngestConfig
from radsynth.data.phantoms import PhantomConfig
from radsynth.errors import RadsynthError
from radsynth.evaluation.checkpoints import FidSweepConfig
from radsynth.layout import RunLayout, checkpoint_name
from radsynth.pipeline.keep import KeepConfig
from radsynth.pipeline.spec import PipelineSpec
from radsynth.release.build import ReleaseConfig
from radsynth.report.build import ReportConfig
from radsynth.sampling.sample import SampleConfig
from radsynth.screening.orient import OrientConfig
from radsynth.screening.screen import ScreenConfig
from radsynth.stats.analysis import StatsConfig
from radsynth.study.create import CreateStudyConfig
from radsynth.study.export import ExportConfig
from radsynth.study.simulate import SimulateConfig
from radsynth.training.config import TrainConfig
from radsynth.utility.stage import UtilityConfig

#: fid_sweep's ``real`` (the reference set) is a folder inside the run, given relative to it.
FID_REAL_DEFAULT = "data/train"


@dataclass(frozen=True)
class StageConfigs:
    """The resolved config of every stage of one run."""

    phantoms: PhantomConfig | None  # None when the pipeline names a source: folder
    ingest: IngestConfig
    train: TrainConfig
    fid_sweep: FidSweepConfig
    sample: SampleConfig  # for one checkpoint; ckpt and out are set per chosen checkpoint
    orient: OrientConfig
    screen: ScreenConfig
    keep: KeepConfig  # the screened images, as generated (what the audit reads)
    audit: AuditConfig
    exclude_copies: KeepConfig  # the kept images, oriented, without reviewer-confirmed copies
    utility: UtilityConfig | None  # None without a utility: section
    orient_real: OrientConfig
    study: CreateStudyConfig  # synthetic sets filled in once checkpoints are chosen
    simulate: SimulateConfig | None  # None unless the readers are simulated
    export: ExportConfig
    stats: StatsConfig
    release: ReleaseConfig
    report: ReportConfig


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


def build_stage_configs(spec: PipelineSpec, layout: RunLayout) -> StageConfigs:
    """Every stage's config for ``spec`` in ``layout``; raises before any stage runs."""
    run = layout
    sec = spec.section
    first = 0  # placeholder step for the per-checkpoint configs, re-targeted later
    sweep = sec("fid_sweep")
    real = run.inside(str(sweep.pop("real", FID_REAL_DEFAULT)))
    data_src = spec.source if spec.source is not None else run.phantom_images
    keep_common = {"screen": run.screen, "review": run.review, "mode": spec.keep}
    return StageConfigs(
        phantoms=None
        if spec.source is not None
        else section_config(PhantomConfig, "phantoms", sec("phantoms"), {"out": run.phantoms}),
        ingest=section_config(IngestConfig, "ingest", sec("ingest"), _ingest_wired(run, data_src)),
        train=section_config(
            TrainConfig, "train", sec("train"), {"data": run.data, "out": run.train}
        ),
        fid_sweep=section_config(
            FidSweepConfig,
            "fid_sweep",
            sweep,
            {"run": run.train, "out": run.fid_sweep, "real": real},
        ),
        sample=section_config(
            SampleConfig,
            "sample",
            sec("sample"),
            {"ckpt": run.checkpoint(first), "out": run.samples_of(first)},
        ),
        orient=section_config(
            OrientConfig, "orient", sec("orient"), {"src": run.samples, "out": run.oriented}
        ),
        screen=section_config(
            ScreenConfig,
            "screen",
            sec("screen"),
            {"src": run.oriented, "out": run.screen, "reference": run.split("val")},
        ),
        keep=KeepConfig(images=run.samples, out=run.kept_as_generated, **keep_common),
        audit=section_config(
            AuditConfig,
            "audit",
            sec("audit"),
            {
                "train": run.split("train"),
                "val": run.split("val"),
                "out": run.audit,
                "synthetic": run.kept_as_generated,
                "groups": run.data_manifest,
            },
        ),
        exclude_copies=KeepConfig(
            images=run.oriented, out=run.kept, with_audit=True, record=run.keep, **keep_common
        ),
        utility=_utility(spec, run),
        orient_real=section_config(
            OrientConfig,
            "orient",
            sec("orient"),
            {"src": run.split("val"), "out": run.real_oriented},
        ),
        study=section_config(CreateStudyConfig, "study", sec("study"), _study_wired(spec, run)),
        simulate=section_config(SimulateConfig, "simulate", sec("simulate"), {"study": run.study})
        if spec.simulate_readers
        else None,
        export=section_config(
            ExportConfig, "export", {}, {"study": run.study, "out": run.study_export}
        ),
        stats=section_config(
            StatsConfig, "stats", sec("stats"), {"responses": run.study_export, "out": run.stats}
        ),
        release=section_config(
            ReleaseConfig,
            "release",
            sec("release"),
            {"run": run.root, "out": run.release, "keep": spec.keep},
        ),
        report=section_config(
            ReportConfig, "report", sec("report"), {"run": run.root, "out": run.report}
        ),
    )


def _ingest_wired(run: RunLayout, src: Path) -> dict[str, Any]:
    """Ingest's folders, and the reviewers' decisions on its review.csv once there are any."""
    wired: dict[str, Any] = {"src": src, "out": run.data}
    if run.ingest_decisions.is_file():
        wired["review_decisions"] = run.ingest_decisions
    return wired


def _study_wired(spec: PipelineSpec, run: RunLayout) -> dict[str, Any]:
    """The study's folders; a per-class study (``finding_per_class: true``) also reads the
    real images' classes from ingest's manifest and the samples' from their sidecars (set per
    chosen checkpoint in :func:`for_checkpoints`)."""
    wired: dict[str, Any] = {"out": run.study, "real": run.real_oriented, "synthetic": ()}
    if spec.section("study").get("finding_per_class"):
        wired |= {"real_manifest": run.data_manifest, "synthetic_meta": ()}
    return wired


def _utility(spec: PipelineSpec, run: RunLayout) -> UtilityConfig | None:
    if "utility" not in spec.sections:
        return None
    wired = {
        "data": run.data,
        "out": run.utility,
        "audit": run.audit,
        "synthetic": run.kept_as_generated,
        "synthetic_meta": run.samples,
    }
    return section_config(UtilityConfig, "utility", spec.section("utility"), wired)


def for_checkpoints(cfgs: StageConfigs, run: RunLayout, steps: tuple[int, ...]) -> StageConfigs:
    """Point the configs that depend on the chosen checkpoints at them."""
    study = dataclasses.replace(
        cfgs.study, synthetic=tuple(f"{checkpoint_name(s)}={run.kept_of(s)}" for s in steps)
    )
    if study.finding_per_class:  # kept images are copies: their classes are in the sidecars
        study = dataclasses.replace(
            study, synthetic_meta=tuple(f"{checkpoint_name(s)}={run.sample_meta(s)}" for s in steps)
        )
    utility = cfgs.utility
    if utility is not None:  # the last chosen checkpoint's kept images, as generated
        utility = dataclasses.replace(
            utility,
            synthetic=run.kept_as_generated_of(steps[-1]),
            synthetic_meta=run.sample_meta(steps[-1]),
        )
    return dataclasses.replace(cfgs, study=study, utility=utility)


def sample_config(cfgs: StageConfigs, run: RunLayout, step: int) -> SampleConfig:
    """The sample stage's config for one chosen checkpoint."""
    return dataclasses.replace(cfgs.sample, ckpt=run.checkpoint(step), out=run.samples_of(step))


def source_inputs(spec: PipelineSpec, ingest: IngestConfig) -> list[Path]:
    """Folders and files from outside the run whose contents go into ingest's cache key: the
    source images and, when ingest was given reviewers' decisions (:func:`_ingest_wired`), that
    file (only then, so that run folders without decisions keep their keys)."""
    inputs = [spec.source] if spec.source is not None else []
    decisions = ingest.review_decisions
    return inputs + [decisions] if decisions is not None else inputs
