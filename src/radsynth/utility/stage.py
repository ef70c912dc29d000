"""``radsynth utility DATA OUT --synthetic DIR``: are the synthetic images worth something?

A classifier (MONAI, random init) is trained per arm -- real only, synthetic only, real +
synthetic at several synthetic:real ratios -- and tested on the ingest's ``test`` split, which
no generator, calibration or study stage reads (checked here by patient id and pixel hash).
Reported per arm: the AUROC of the seed ensemble with DeLong and patient-bootstrap 95% CIs,
the per-seed AUROCs, and DeLong's paired test against the real-only arm (DeLong et al. 1988).
Conditional fidelity: the real-only classifiers, applied to the synthetic images, say how
often each image shows its intended class (per class, Wilson 95% CI).

Outputs: utility.csv (one row per arm), utility.json (everything, with settings and
timings), roc.png, auroc_by_arm.png, config.json, manifest.json.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.hardware.device import resolve_device
from radsynth.hardware.flags import device_arg
from radsynth.hardware.threads import cpu_threads
from radsynth.stage import StageResult, prepare_output_dir, write_manifest
from radsynth.stats.proportions import wilson_ci
from radsynth.utility import data as udata
from radsynth.utility.arms import arm_sets, run_arm
from radsynth.utility.auroc import delong_paired
from radsynth.utility.classifier import ARCHS, ClassifierSettings, predict
from radsynth.utility.outputs import write_outputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UtilityConfig:
    """Train classifiers on real, synthetic and mixed data; compare their AUROC on test/."""

    data: Path = arg(help="ingest folder with a label column and a test split", positional=True)
    out: Path = arg(help="new output folder", positional=True)
    synthetic: Path | None = arg(None, help="synthetic PNGs with sidecars (meta/) naming a label")
    synthetic_meta: Path | None = arg(None, help="sidecar folder if not SYNTHETIC/meta")
    audit: Path | None = arg(None, help="audit folder: its flagged copies are left out")
    label_column: str = arg("label", help="manifest column holding the class")
    external: Path | None = arg(None, help="an ingest folder used as an external test set")
    ratios: tuple[float, ...] = arg(
        (),
        help="synthetic:real ratios to mix (a named ratio the synthetic set cannot meet is "
        "refused); default: 0.5, 1, 2 and 4, each where the synthetic set is large enough",
    )
    seeds: int = arg(3, help="classifiers per arm (seeds 0..N-1)")
    arch: str = arg("densenet121", help="MONAI classifier", choices=ARCHS)
    steps: int = arg(300, help="optimizer steps per classifier (equal in every arm)")
    batch: int = arg(32, help="images per step, half of each class")
    lr: float = arg(1e-3, help="AdamW learning rate")
    hflip: bool = arg(False, help="random left-right flips while training")
    n_boot: int = arg(2000, help="patient-level bootstrap resamples")
    seed: int = arg(0, help="seed of the synthetic subsets of the ratio curve and --real-max")
    real_max: int = arg(
        0,
        help="use at most this many real training images (0: all), "
        "a seeded class-stratified subset",
    )
    size_px: int = arg(0, help="classifier input side in px (area-resampled; 0: as ingested)")
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")
    device: str = device_arg()


def _check(cfg: UtilityConfig) -> None:
    if cfg.real_max < 0 or cfg.size_px < 0:
        raise RadsynthError("--real-max and --size-px must be 0 or more")
    if cfg.seeds < 1 or cfg.steps < 1 or cfg.batch < 2:
        raise RadsynthError("--seeds and --steps must be >= 1 and --batch >= 2")
    if any(r <= 0 for r in cfg.ratios):
        raise RadsynthError(f"--ratios must be positive, got {cfg.ratios}")
    resolve_device(cfg.device)  # a bad name or a missing GPU fails before anything is read


def fidelity(nets: list, synthetic: udata.LabelledImages, classes) -> list[dict]:
    """Per class: the share of synthetic images that the real-only ensemble assigns to their
    intended class, with a Wilson 95% CI."""
    score = np.mean([predict(n, synthetic.images).numpy() for n in nets], axis=0)
    predicted = (score >= 0.5).astype(int)
    rows = []
    for c, name in enumerate(classes):
        mine = synthetic.labels.numpy() == c
        hits, n = int((predicted[mine] == c).sum()), int(mine.sum())
        low, high = wilson_ci(hits, n) if n else (float("nan"), float("nan"))
        rows.append(
            {
                "class": name,
                "n": n,
                "shows_class": hits,
                "share": hits / n if n else float("nan"),
                "low": low,
                "high": high,
            }
        )
    return rows


def utility(cfg: UtilityConfig) -> StageResult:
    """Run the benchmark; see the module docstring.

    Raises:
        RadsynthError: no label column or not two classes, no test split, a test split that
            shares patients or pixels with train/val, an external set whose labels differ,
            synthetic images without a known class (one line each, before OUT is written).
    """
    _check(cfg)
    with cpu_threads(cfg.cpu_threads):
        return _utility(cfg)


def _utility(cfg: UtilityConfig) -> StageResult:
    start = time.perf_counter()
    rows = udata.read_rows(cfg.data, ("image", "split", cfg.label_column))
    classes = udata.class_names(rows, cfg.label_column, cfg.data)
    if not any(r.split == "test" for r in rows):
        raise RadsynthError(f"{cfg.data} has no test split; ingest with --test-fraction")
    udata.check_test_leaks(cfg.data)
    real = udata.subset(
        udata.load_split(cfg.data, "train", cfg.label_column, classes), cfg.real_max, cfg.seed
    )
    size = real.images.shape[-1]
    tests = {"test": udata.load_split(cfg.data, "test", cfg.label_column, classes, size)}
    if cfg.external is not None:
        ext_rows = udata.read_rows(cfg.external, ("image", cfg.label_column))
        if udata.class_names(ext_rows, cfg.label_column, cfg.external) != classes:
            raise RadsynthError(
                f"external set {cfg.external}: classes of {cfg.label_column!r} are not {classes}"
            )
        udata.check_external_leaks(cfg.external, cfg.data)
        tests["external"] = udata.load_split(cfg.external, None, cfg.label_column, classes, size)
    synthetic, dropped = None, set()
    if cfg.synthetic is not None:
        dropped = udata.flagged_copies(cfg.audit)
        synthetic = udata.load_synthetic(cfg.synthetic, classes, size, cfg.synthetic_meta, dropped)
    if cfg.size_px:
        real, synthetic = udata.resized(real, cfg.size_px), udata.resized(synthetic, cfg.size_px)
        tests = {k: udata.resized(v, cfg.size_px) for k, v in tests.items()}
    arms = arm_sets(real, synthetic, list(cfg.ratios), cfg.seed)  # refuses before writing
    prepare_output_dir(cfg.out, "utility", cfg)

    device = resolve_device(cfg.device)
    settings = ClassifierSettings(cfg.arch, cfg.steps, cfg.batch, cfg.lr, cfg.hflip, device)
    seeds = list(range(cfg.seeds))
    results, fid = [], []
    for name, train_set in arms.items():
        result, nets = run_arm(name, train_set, tests, settings, seeds, cfg.n_boot)
        results.append(result)
        if name == "real" and synthetic is not None:
            fid = fidelity(nets, synthetic, classes)
    y = tests["test"].labels.numpy()
    paired = {r.arm: delong_paired(y, r.scores, results[0].scores) for r in results[1:]}
    seconds = time.perf_counter() - start
    summary = write_outputs(cfg, classes, results, paired, fid, tests, seconds, len(dropped))
    write_manifest(
        cfg.out,
        "utility",
        cfg,
        inputs=[Path(cfg.data) / "manifest.csv"],
        seeds={"classifier_seeds": seeds, "subset_seed": cfg.seed},
        extra={"seconds": seconds, "threads": torch.get_num_threads()},
    )
    return StageResult(cfg.out, summary)
