"""``radsynth utility DATA OUT --synthetic DIR``: are the synthetic images worth something?

With several generators, ``--synthetic-sets NAME=DIR ...`` names one synthetic set per
generator and checkpoint (``gan/step-0000400=DIR``): the real-only arm is trained once and
shared, and every set gets its own synthetic-only and mixed arms (``synthetic:NAME``,
``mix-<r>x:NAME``) and its own conditional fidelity.

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
from radsynth.data.imageio import list_images
from radsynth.errors import RadsynthError
from radsynth.hardware.device import resolve_device
from radsynth.hardware.flags import device_arg
from radsynth.hardware.threads import cpu_threads
from radsynth.stage import StageResult, prepare_output_dir, write_manifest
from radsynth.stats.proportions import wilson_ci
from radsynth.utility import data as udata
from radsynth.utility.arms import all_arms, run_arm
from radsynth.utility.auroc import delong_paired
from radsynth.utility.classifier import ARCHS, ClassifierSettings, predict
from radsynth.utility.outputs import write_outputs
from radsynth.utility.sets import parse_sets, parse_sets_meta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UtilityConfig:
    """Train classifiers on real, synthetic and mixed data; compare their AUROC on test/."""

    data: Path = arg(help="ingest folder with a label column and a test split", positional=True)
    out: Path = arg(help="new output folder", positional=True)
    synthetic: Path | None = arg(None, help="synthetic PNGs with sidecars (meta/) naming a label")
    synthetic_meta: Path | None = arg(None, help="sidecar folder if not SYNTHETIC/meta")
    synthetic_sets: tuple[str, ...] = arg(
        (), help="several synthetic sets as NAME=DIR (instead of --synthetic), one arm set each"
    )
    synthetic_sets_meta: tuple[str, ...] = arg(
        (), help="NAME=METADIR: sidecar folder of a --synthetic-sets set (default DIR/meta)"
    )
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
    if cfg.synthetic_sets and (cfg.synthetic is not None or cfg.synthetic_meta is not None):
        raise RadsynthError("give --synthetic or --synthetic-sets, not both")
    if cfg.synthetic_sets_meta and not cfg.synthetic_sets:
        raise RadsynthError("--synthetic-sets-meta names sidecars of --synthetic-sets: give those")
    named_sets(cfg)  # malformed or duplicate names fail before anything is read
    resolve_device(cfg.device)  # a bad name or a missing GPU fails before anything is read


def named_sets(cfg: UtilityConfig) -> dict[str, tuple[Path, Path | None]]:
    """Set name -> (image folder, sidecar folder or None for DIR/meta). The single-set form
    (``--synthetic``) is the one set named ""; no synthetic images: no sets."""
    if cfg.synthetic is not None:
        return {"": (cfg.synthetic, cfg.synthetic_meta)}
    sets = parse_sets(cfg.synthetic_sets, "--synthetic-sets")
    meta = parse_sets_meta(cfg.synthetic_sets_meta, sets, "--synthetic-sets-meta")
    return {name: (folder, meta[name]) for name, folder in sets.items()}


def _load_sets(cfg: UtilityConfig, classes, size: int) -> tuple[dict, int]:
    """Each set's labelled images minus the audit's flagged copies, and how many were dropped.

    In the several-set form the audit's names carry the set name (``gan/step-0000400/x.png``,
    relative to the audited ``kept/``), so each set drops only its own flagged images."""
    flagged = udata.flagged_copies(cfg.audit)
    sets = named_sets(cfg)
    if cfg.synthetic_sets and (
        stray := [f for f in flagged if not any(f.startswith(n + "/") for n in sets)]
    ):
        log.warning(
            "%d image(s) the audit flagged belong to no --synthetic-sets set (e.g. %s); "
            "audit names are matched as NAME/IMAGE",
            len(stray),
            sorted(stray)[0],
        )
    loaded, dropped = {}, 0
    for name, (folder, meta) in sets.items():
        drop = (
            flagged
            if not name
            else {f[len(name) + 1 :] for f in flagged if f.startswith(name + "/")}
        )
        images = udata.load_synthetic(folder, classes, size, meta, drop)
        dropped += len(list_images(Path(folder), (".png",))) - len(images.labels)
        loaded[name] = images
    return loaded, dropped


def fidelity(
    nets: list, synthetic: udata.LabelledImages, classes, set_name: str = ""
) -> list[dict]:
    """Per class: the share of synthetic images that the real-only ensemble assigns to their
    intended class, with a Wilson 95% CI (rows carry the set's name, "" for a single set)."""
    score = np.mean([predict(n, synthetic.images).numpy() for n in nets], axis=0)
    predicted = (score >= 0.5).astype(int)
    rows = []
    for c, name in enumerate(classes):
        mine = synthetic.labels.numpy() == c
        hits, n = int((predicted[mine] == c).sum()), int(mine.sum())
        low, high = wilson_ci(hits, n) if n else (float("nan"), float("nan"))
        rows.append(
            {
                "set": set_name,
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
    synthetic, dropped = _load_sets(cfg, classes, size)
    if cfg.size_px:
        real = udata.resized(real, cfg.size_px)
        synthetic = {k: udata.resized(v, cfg.size_px) for k, v in synthetic.items()}
        tests = {k: udata.resized(v, cfg.size_px) for k, v in tests.items()}
    arms = all_arms(real, synthetic, list(cfg.ratios), cfg.seed)  # refuses before writing
    prepare_output_dir(cfg.out, "utility", cfg)

    device = resolve_device(cfg.device)
    settings = ClassifierSettings(cfg.arch, cfg.steps, cfg.batch, cfg.lr, cfg.hflip, device)
    seeds = list(range(cfg.seeds))
    results, fid = [], []
    for (name, set_name), train_set in arms.items():
        result, nets = run_arm(name, train_set, tests, settings, seeds, cfg.n_boot)
        result.set = set_name
        results.append(result)
        if name == "real":
            fid = [r for k, v in synthetic.items() for r in fidelity(nets, v, classes, k)]
    y = tests["test"].labels.numpy()
    paired = {r.arm: delong_paired(y, r.scores, results[0].scores) for r in results[1:]}
    seconds = time.perf_counter() - start
    summary = write_outputs(cfg, classes, results, paired, fid, tests, seconds, dropped)
    write_manifest(
        cfg.out,
        "utility",
        cfg,
        inputs=[Path(cfg.data) / "manifest.csv"],
        seeds={"classifier_seeds": seeds, "subset_seed": cfg.seed},
        extra={"seconds": seconds, "threads": torch.get_num_threads()},
    )
    return StageResult(cfg.out, summary)
