"""``radsynth sampler-sweep``: FID of each sampler and step count against the real images.

Every row samples the same seeds from the same checkpoint, so rows differ only in the sampler.
The reference row is DDPM ancestral sampling through every training timestep (Ho et al. 2020;
1000 steps for the study's schedule), the sampler the study used; each row's FID is also given
as a ratio to it, so a fast solver can be chosen on evidence (the target: within 5%).

On a class-conditional checkpoint, ``--label NAME --guidance 1 2 3`` samples every row of one
class at each guidance strength S (the reference row at the first S), against a ``real``
folder of that class: FID per class against S, for choosing S. Run it once per class.

Output folder::

    OUT/samples/ddpm-1000/ ...   one `radsynth sample` folder per row (resumable)
    OUT/sweep.csv                one row per (sampler, steps), see COLUMNS
    OUT/fid_vs_steps.png         FID against denoiser calls per image, one line per sampler
    OUT/cache/                   the real set's features, computed once
    OUT/config.json, OUT/manifest.json
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.hardware.device import resolve_device
from radsynth.io import read_json
from radsynth.progress import bar, log_checkpoint
from radsynth.sampling.sample import SampleConfig, resolved_spacing, sample
from radsynth.sampling.samplers import function_evaluations, get_sampler
from radsynth.stage import (
    StageResult,
    atomic_path,
    draw_figure,
    prepare_output_dir,
    write_manifest,
)

log = logging.getLogger(__name__)
STAGE = "sampler-sweep"
COLUMNS = (
    "sampler", "steps", "spacing", "function_evaluations", "reference", "n_real", "n_fake",
    "fid", "kid_mean", "kid_std", "precision", "recall", "fid_ratio_to_reference",
    "label", "guidance", "sample_seconds",
)  # fmt: skip


@dataclass(frozen=True)
class SamplerSweepConfig:
    """FID of each sampler and step count against real images; full DDPM is the reference."""

    #: The stage continues a half-written output folder of the same config (``radsynth run``
    #: resumes it in place after an interruption instead of moving it aside).
    RESUMABLE: ClassVar[bool] = True

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
    n: int = arg(1000, help="images per row, seeds seed_start .. seed_start + n - 1")
    seed_start: int = arg(0, help="first seed (the same seeds in every row)")
    batch: int = arg(32, help="images per denoiser call, per device")
    weights: str = arg("ema", help="ema or online weights", choices=("ema", "online"))
    feature: str = arg("inception", help="FID feature space", choices=("inception", "pixels"))
    metrics_batch: int = arg(50, help="images per feature-network batch")
    device: str = arg("auto", help="auto: the GPU if there is one, else cpu")
    bf16: bool = arg(True, help="bfloat16 autocast on GPU")
    channels_last: bool = arg(True, help="channels-last memory format on GPU")
    compile: str = arg(
        "auto", help="torch.compile on GPU; auto: on for 512+ images", choices=("auto", "on", "off")
    )
    progress: bool = arg(True, help="show progress bars")
    label: str | None = arg(None, help="conditional checkpoints: the class every row samples")
    guidance: tuple[float, ...] = arg((), help="conditional: guidance strengths S to sweep")


def rows_to_run(
    cfg: SamplerSweepConfig, num_train_timesteps: int
) -> list[tuple[str, int, float | None, bool]]:
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


def sampler_sweep(cfg: SamplerSweepConfig) -> StageResult:
    """Sample ``n`` images per (sampler, steps) row and write their FID against ``real``.

    Resumable: rerunning the same config reuses finished samples and cached real features.
    """
    from radsynth.metrics.compare import compute_metrics
    from radsynth.training.checkpoint import read_checkpoint_config, resolve_checkpoint

    check(cfg)
    ckpt = resolve_checkpoint(cfg.ckpt)  # once: every row samples this very folder
    meta = read_checkpoint_config(ckpt)
    rows = rows_to_run(cfg, int(meta["diffusion"]["num_train_timesteps"]))
    prepare_output_dir(cfg.out, STAGE, cfg, resume=True)
    metrics_device = str(resolve_device(cfg.device))  # cuda:N keeps its index
    extractors: dict[str, Any] = {}  # one feature network for every row
    results = []
    for name, steps, guidance, is_reference in bar(rows, desc="sampler-sweep", unit="row",
                                                   enabled=cfg.progress):  # fmt: skip
        scfg = row_config(cfg, ckpt, name, steps, guidance)
        start = time.perf_counter()
        sample(scfg)
        seconds = time.perf_counter() - start
        m = compute_metrics(
            cfg.real, scfg.out, feature=cfg.feature, cache_dir=cfg.out / "cache",
            batch_size=cfg.metrics_batch, device=metrics_device, extractors=extractors,
        )  # fmt: skip
        results.append(
            {
                "sampler": name, "steps": steps, "spacing": resolved_spacing(scfg),
                "function_evaluations": function_evaluations(name, steps),
                "reference": is_reference, "sample_seconds": round(seconds, 3),
                "label": cfg.label, "guidance": guidance,
                **{k: m.get(k) for k in COLUMNS if k in m},
            }
        )  # fmt: skip
        log_checkpoint(log, STAGE, scfg.out.name, f"FID {m['fid']:.3f} with {name}, {steps} "
                       f"steps; {cfg.n} images sampled in {seconds:.1f} s")  # fmt: skip
    ref_fid = results[0]["fid"]
    for row in results:
        row["fid_ratio_to_reference"] = row["fid"] / ref_fid if ref_fid else None
    write_csv(cfg.out / "sweep.csv", results)
    draw_figure("fid_vs_steps.png", lambda: plot(cfg.out / "fid_vs_steps.png", results, cfg))
    reference = read_json(row_config(cfg, ckpt, *rows[0][:3]).out / "sampling.json")
    write_manifest(
        cfg.out, STAGE, cfg, inputs=[], seeds={"start": cfg.seed_start, "n": cfg.n},
        extra={"checkpoint": str(ckpt), "checkpoint_id": reference["checkpoint_id"],
               "rows": len(results)},
    )  # fmt: skip
    return StageResult(out=cfg.out, summary=summarise(results))


def row_config(
    cfg: SamplerSweepConfig, ckpt: Path, name: str, steps: int, guidance: float | None = None
) -> SampleConfig:
    """The `radsynth sample` config of one row; its images go to OUT/samples/NAME-STEPS
    (NAME-STEPS-gS with a guidance strength)."""
    folder = f"{name}-{steps:04d}" + (f"-g{guidance:g}" if guidance is not None else "")
    base = SampleConfig(ckpt=ckpt, out=cfg.out / "samples" / folder)
    return replace(
        base, n=cfg.n, sampler=name, steps=steps, batch=cfg.batch, seed_start=cfg.seed_start,
        weights=cfg.weights, device=cfg.device, bf16=cfg.bf16, channels_last=cfg.channels_last,
        compile=cfg.compile, progress=cfg.progress, label=cfg.label, guidance=guidance,
    )  # fmt: skip


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def plot(path: Path, rows: list[dict[str, Any]], cfg: SamplerSweepConfig) -> None:
    """FID against denoiser calls per image, one line per sampler; the reference as a line."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = rows[0]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, g in dict.fromkeys((r["sampler"], r.get("guidance")) for r in rows[1:]):
        mine = sorted((r for r in rows[1:] if (r["sampler"], r.get("guidance")) == (name, g)),
                      key=lambda r: r["steps"])  # fmt: skip
        xs = [r["function_evaluations"] for r in mine]
        ax.plot(xs, [r["fid"] for r in mine], marker="o",
                label=name if g is None else f"{name}, S = {g:g}")  # fmt: skip
    label = f"ddpm, {ref['steps']} steps (reference)"
    ax.axhline(ref["fid"], color="black", linestyle="--", linewidth=1, label=label)
    ax.axhline(1.05 * ref["fid"], color="grey", linestyle=":", linewidth=1, label="reference +5%")
    ax.set_xscale("log")
    calls = sorted({r["function_evaluations"] for r in rows[1:]})
    ax.set_xticks(calls, [str(c) for c in calls])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("denoiser calls per image")
    ax.set_ylabel(f"FID ({cfg.feature} features, N = {cfg.n})")
    ax.set_title("Sample quality against sampling cost")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def summarise(rows: list[dict[str, Any]]) -> str:
    """One line: the reference FID and the cheapest row within 5% of it."""
    ref = rows[0]
    close = [r for r in rows[1:] if r["fid"] <= 1.05 * ref["fid"]]
    text = f"{len(rows)} rows; reference ddpm-{ref['steps']} FID {ref['fid']:.3g}"
    if close:
        best = min(close, key=lambda r: r["function_evaluations"])
        text += (
            f"; cheapest within 5%: {best['sampler']}-{best['steps']} "
            f"(FID {best['fid']:.3g}, {best['function_evaluations']} calls)"
        )
    else:
        text += "; no row within 5% of it"
    return text
