"""``radsynth sampler-sweep``: FID of each sampler and step count against the real images.

Every row samples the same seeds from the same checkpoint, so rows differ only in the sampler.
The reference row is DDPM ancestral sampling through every training timestep (Ho et al. 2020;
1000 steps for the study's schedule), the sampler the study used; each row's FID is also given
as a ratio to it, so a fast solver can be chosen on evidence (the
target: within 5%).

On a class-conditional checkpoint, ``--label NAME --guidance 1 2 3`` samples every row of one
class at each guidance strength S (the reference row at the first S), against a ``real``
folder of that class: FID per class against S, for choosing S. Run it once per class.

Output folder::

    OUT/samples/ddpm-1000/ ...   one `radsynth sample` folder per row (resumable)
    OUT/sweep.csv                one row per (sampler, steps), see COLUMNS
    OUT/fid_vs_steps.png         FID against denoiser calls per image, one line per sampler
    OUT/cache/                   the real set's features, computed once
    OUT/config.json, OUT/manifest.json

Rerunning the same command resumes: finished rows are kept and finished images are not redrawn
(the reference row's images are scored again, for the exact FID the new rows' ratios divide by).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from radsynth.config import Alias, arg
from radsynth.errors import RadsynthError
from radsynth.evaluation import plots
from radsynth.evaluation.score import (
    EXTRA_METRICS,
    EvaluationFields,
    Scorer,
    feature_names,
    sample_and_score,
    sample_config,
    score_sampled,
)
from radsynth.evaluation.table import Row, open_table, six_digits
from radsynth.hardware.flags import bf16_arg, channels_last_arg, compile_arg
from radsynth.io import read_json
from radsynth.layout import sweep_samples
from radsynth.progress import bar, log_checkpoint
from radsynth.records.curves import SCORE_COLUMNS
from radsynth.sampling.sample import SampleConfig, resolved_spacing
from radsynth.sampling.samplers import function_evaluations, get_sampler
from radsynth.stage import StageResult, draw_figure, prepare_output_dir, write_manifest

log = logging.getLogger(__name__)
STAGE = "sampler-sweep"
COLUMNS = (
    "sampler",
    "steps",
    "spacing",
    "function_evaluations",
    "reference",
    *SCORE_COLUMNS,
    "fid_ratio_to_reference",
    "label",
    "guidance",
    "sample_seconds",
)
#: One row: (sampler, steps, guidance S or None, is the reference row).
Setting = tuple[str, int, float | None, bool]


@dataclass(frozen=True, kw_only=True)
class SamplerSweepConfig(EvaluationFields):
    """FID of each sampler and step count against real images; full DDPM is the reference."""

    #: ``--metrics-batch`` (deprecated) is the old name of ``--batch-size``, for one release.
    ALIASES: ClassVar[tuple[Alias, ...]] = (
        Alias("metrics_batch", "batch_size", int, int, "deprecated alias of --batch-size"),
    )

    ckpt: Path = arg(
        help="checkpoint folder, or a training run folder (its latest)", positional=True
    )
    real: Path = arg(
        help="folder of real images (PNG/JPEG/TIFF, searched recursively)", positional=True
    )
    out: Path = arg(
        help="output folder for sweep.csv, fid_vs_steps.png and samples/", positional=True
    )
    samplers: tuple[str, ...] = arg(("ddim", "dpmpp", "heun"), help="samplers to compare")
    steps: tuple[int, ...] = arg((10, 20, 25, 50), help="step counts to try with each sampler")
    reference_steps: int = arg(
        0, help="steps of the DDPM ancestral reference row; 0 = every training timestep (1000)"
    )
    batch: int = arg(32, help="images per denoiser call, per device")
    extra_features: tuple[str, ...] = arg(
        (), help="more feature spaces, each adding fid_/kid_mean_/kid_std_<name> columns"
    )
    bf16: bool = bf16_arg(True)
    channels_last: bool = channels_last_arg(True)
    compile: Literal["auto", "on", "off"] = compile_arg("auto", auto="on a GPU for 512+ images")
    progress: bool = arg(True, help="show progress bars")
    label: str | None = arg(None, help="conditional checkpoints: the class every row samples")
    guidance: tuple[float, ...] = arg((), help="conditional: guidance strengths S to sweep")


def rows_to_run(cfg: SamplerSweepConfig, num_train_timesteps: int) -> list[Setting]:
    """(sampler, steps, guidance, is_reference) for every row, the reference first."""
    for name in cfg.samplers:
        get_sampler(name)
    ref_steps = cfg.reference_steps or num_train_timesteps
    strengths = list(cfg.guidance) or [None]
    rows = [("ddpm", ref_steps, strengths[0], True)]
    rows += [
        (s, k, g, False)
        for g in strengths
        for s in cfg.samplers
        for k in cfg.steps
        if (s, k, g) != ("ddpm", ref_steps, strengths[0])
    ]
    return rows


def check(cfg: SamplerSweepConfig) -> None:
    if cfg.n < 2:
        raise RadsynthError(f"--n must be at least 2 for FID, got {cfg.n}")
    if not cfg.samplers or not cfg.steps:
        raise RadsynthError("give at least one sampler and one step count")
    if any(k < 1 for k in cfg.steps) or cfg.reference_steps < 0:
        raise RadsynthError("step counts must be positive")
    if not cfg.real.is_dir():
        raise RadsynthError(f"real image folder not found: {cfg.real}")
    for name in cfg.samplers:
        get_sampler(name)


def row_config(
    cfg: SamplerSweepConfig, ckpt: Path, name: str, steps: int, guidance: float | None = None
) -> SampleConfig:
    """The `radsynth sample` config of one row; its images go to OUT/samples/NAME-STEPS
    (NAME-STEPS-gS with a guidance strength)."""
    folder = f"{name}-{steps:04d}" + (f"-g{guidance:g}" if guidance is not None else "")
    return sample_config(
        cfg,
        ckpt,
        sweep_samples(cfg.out, folder),
        sampler=name,
        steps=steps,
        bf16=cfg.bf16,
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        progress=None if cfg.progress else False,  # a bar on a terminal only, as before
        label=cfg.label,
        guidance=guidance,
    )


def _key(sampler: str, steps: int | str, guidance: float | str | None) -> tuple[str, int, str]:
    """A row's identity as the table holds it (guidance as its cell text)."""
    return sampler, int(steps), six_digits(float(guidance) if guidance not in (None, "") else None)


def sampler_sweep(cfg: SamplerSweepConfig) -> StageResult:
    """Sample ``n`` images per (sampler, steps) row and write their FID against ``real``.

    Resumable: rerunning the same config keeps the finished rows of ``sweep.csv``, reuses
    finished samples and the cached real features.
    """
    from radsynth.training.checkpoint import read_checkpoint_config, resolve_checkpoint

    check(cfg)
    ckpt = resolve_checkpoint(cfg.ckpt)  # once: every row samples this very folder
    meta = read_checkpoint_config(ckpt)
    settings = rows_to_run(cfg, int(meta["diffusion"]["num_train_timesteps"]))
    scorer = Scorer(cfg, cfg.real, cfg.cache_dir or cfg.out / "cache")
    prepare_output_dir(cfg.out, STAGE, cfg, resume=True)
    extra = [f"{k}_{x}" for x in feature_names(cfg)[1:] for k in EXTRA_METRICS]
    order = {_key(*s[:3]): i for i, s in enumerate(settings)}
    ref_fid: float | None = None  # the reference row's FID, unrounded, for the ratios
    table = open_table(
        cfg.out / "sweep.csv",
        [*COLUMNS, *extra],
        cell=six_digits,
        what="sampler sweep table",
        key=lambda r: _key(r["sampler"], r["steps"], r["guidance"]),
        order=lambda r: order.get(_key(r["sampler"], r["steps"], r["guidance"]), len(order)),
    )
    for name, steps, guidance, is_reference in bar(
        settings, desc="sampler-sweep", unit="row", enabled=cfg.progress
    ):
        scfg = row_config(cfg, ckpt, name, steps, guidance)
        if table.find(_key(name, steps, guidance)) is not None:
            log_checkpoint(log, STAGE, scfg.out.name, "scored by an earlier run, reused")
            continue
        if ref_fid is None and not is_reference:  # resumed: the reference row was written
            ref_fid = score_sampled(row_config(cfg, ckpt, *settings[0][:3]), scorer).metrics["fid"]
        scored = sample_and_score(scfg, scorer)
        fid = scored.metrics["fid"]
        ref_fid = fid if is_reference else ref_fid
        table.add(
            {
                "sampler": name,
                "steps": steps,
                "spacing": resolved_spacing(scfg),
                "function_evaluations": function_evaluations(name, steps),
                "reference": is_reference,
                "sample_seconds": round(scored.seconds, 3),
                "label": cfg.label,
                "guidance": guidance,
                "fid_ratio_to_reference": fid / ref_fid if ref_fid else None,
                **scored.metrics,
            }
        )
        log_checkpoint(
            log,
            STAGE,
            scfg.out.name,
            f"FID {fid:.3f} with {name}, {steps} steps; "
            f"{cfg.n} images sampled in {scored.seconds:.1f} s",
        )
    rows = sorted(table.rows, key=table.order)
    draw_figure(
        "fid_vs_steps.png",
        lambda: plots.fid_vs_calls(cfg.out / "fid_vs_steps.png", rows, cfg.feature, cfg.n),
    )
    sampled = read_json(row_config(cfg, ckpt, *settings[0][:3]).out / "sampling.json")
    write_manifest(
        cfg.out,
        STAGE,
        cfg,
        inputs=[],
        seeds={"start": cfg.seed_start, "n": cfg.n},
        extra={
            "checkpoint": str(ckpt),
            "checkpoint_id": sampled["checkpoint_id"],
            "rows": len(rows),
        },
    )
    return StageResult(out=cfg.out, summary=summarise(rows))


def summarise(rows: list[Row]) -> str:
    """One line: the reference FID and the cheapest row within 5% of it."""
    ref = rows[0]
    ref_fid = float(ref["fid"])
    close = [r for r in rows[1:] if float(r["fid"]) <= 1.05 * ref_fid]
    text = f"{len(rows)} rows; reference ddpm-{ref['steps']} FID {ref_fid:.3g}"
    if close:
        best = min(close, key=lambda r: int(r["function_evaluations"]))
        text += (
            f"; cheapest within 5%: {best['sampler']}-{best['steps']} "
            f"(FID {float(best['fid']):.3g}, {best['function_evaluations']} calls)"
        )
    else:
        text += "; no row within 5% of it"
    return text
