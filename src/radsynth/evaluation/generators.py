"""``radsynth compare-generators REAL OUT --sets NAME=DIR ...``: which generator's images are
closest to the real test films, overall and per class, at matched N.

For every synthetic set (``gan/step-0000400``, ``ddpm/step-0000600``, ...) against the real
folder (the ingest's ``data/test``), overall and per class: FID (Heusel et al. 2017), KID
(Bińkowski et al. 2018) with a percentile-bootstrap 95% CI (:mod:`radsynth.metrics.kid_bootstrap`),
improved precision/recall (Kynkäänniemi et al. 2019, k = 3) and the diversity ratio. FID and
KID depend on N (FID is biased upwards at small N), so every set is scored on the same N: per
class, the smallest of that class's count in the real folder and in every set. The real
subsample is the same for every set; each side is drawn without replacement with a seeded
generator. The features are those of ``radsynth fid`` (:mod:`radsynth.metrics.compare`).

A real image's class is its ``label_column`` in the ingest's manifest.csv; a synthetic image's
is the ``label`` of its sampling sidecar (``META/<stem>.json``, META = ``DIR/meta`` unless
``--sets-meta NAME=METADIR``). Without ``--manifest`` only the ``all`` rows are computed.

Outputs: generators.csv (:mod:`radsynth.records.generators`), generators.json (the rows and the
settings), config.json, manifest.json.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.evaluation.feature_fields import FeatureNetFields, feature_extractor
from radsynth.evaluation.generator_labels import real_labels, set_labels
from radsynth.hardware.device import resolve_device
from radsynth.hardware.flags import device_arg
from radsynth.metrics import formulas
from radsynth.metrics.compare import Feature, extract, image_paths, metrics_from_features
from radsynth.metrics.kid_bootstrap import kid_bootstrap
from radsynth.records.generators import ALL, GeneratorRow, write_generators
from radsynth.stage import StageResult, atomic_write_text, prepare_output_dir, write_manifest
from radsynth.utility.sets import parse_sets, parse_sets_meta, set_generator

log = logging.getLogger(__name__)
STAGE = "compare-generators"


@dataclass(frozen=True)
class CompareGeneratorsConfig(FeatureNetFields):
    """FID, KID with a bootstrap CI and precision/recall of several synthetic sets, matched N
    (the feature network's fields come from :class:`FeatureNetFields`, as for the sweeps)."""

    real: Path = arg(help="folder of real images: the ingest's test split", positional=True)
    out: Path = arg(help="new output folder", positional=True)
    sets: tuple[str, ...] = arg((), help="synthetic sets as NAME=DIR, e.g. gan/step-0000400=DIR")
    sets_meta: tuple[str, ...] = arg(
        (), help="NAME=METADIR: sampling sidecar folder of a set (default DIR/meta)"
    )
    manifest: Path | None = arg(
        None, help="the ingest's manifest.csv, for the real images' classes (none: overall only)"
    )
    label_column: str = arg("label", help="manifest column holding the class")
    feature: Feature = arg("inception", help="feature space of FID, KID, precision/recall")
    cache_dir: Path | None = arg(None, help="cache the real set's features in this folder")
    kid_subsets: int = arg(formulas.KID_SUBSETS, help="KID: number of random subsets")
    kid_subset_size: int = arg(formulas.KID_SUBSET_SIZE, help="KID: images per subset (capped)")
    k_nearest: int = arg(3, help="precision/recall: k of the k-NN radii")
    n_boot: int = arg(1000, help="bootstrap resamples of KID's 95% CI")
    seed: int = arg(0, help="seed of the matched-N subsamples, the KID subsets and the bootstrap")
    device: str = device_arg()


def _check(cfg: CompareGeneratorsConfig) -> dict[str, tuple[Path, Path]]:
    """Set name -> (image folder, sidecar folder), after the cheap checks (one line each)."""
    if not cfg.sets:
        raise RadsynthError("give at least one synthetic set as --sets NAME=DIR")
    if min(cfg.n_boot, cfg.k_nearest, cfg.kid_subsets, cfg.batch_size) < 1:
        raise RadsynthError("--n-boot, --k-nearest, --kid-subsets and --batch-size must be >= 1")
    sets = parse_sets(cfg.sets, "--sets")
    meta = parse_sets_meta(cfg.sets_meta, sets, "--sets-meta")
    for what, folder in [("real", cfg.real), *((f"set {n}", d) for n, d in sets.items())]:
        if not Path(folder).is_dir():
            raise RadsynthError(f"{what} folder not found: {folder}")
    if cfg.manifest is not None and not Path(cfg.manifest).is_file():
        raise RadsynthError(f"--manifest file not found: {cfg.manifest}")
    resolve_device(cfg.device)
    return {name: (folder, meta[name]) for name, folder in sets.items()}


def matched_groups(
    real: list[str], sets: dict[str, list[str]], classes: list[str]
) -> dict[str, tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Per class (``all`` first): the matched N, and the indices of each side's images.

    Args:
        real: the class of each real image ("" when unknown, then only ``all``).
        sets: set name -> the class of each of its images.
        classes: the classes to score besides ``all``.

    Returns:
        class -> (N, {"real": idx}, {set: idx}), every idx array of the images of that class.

    Raises:
        RadsynthError: a class with fewer than 2 images on some side (one line).
    """
    out = {}
    for cls in [ALL, *classes]:
        pick = {"real": np.array([i for i, c in enumerate(real) if cls in (ALL, c)], int)}
        mine = {
            n: np.array([i for i, c in enumerate(v) if cls in (ALL, c)], int)
            for n, v in sets.items()
        }
        side, idx = min([("real", pick["real"]), *mine.items()], key=lambda kv: len(kv[1]))
        if len(idx) < 2:
            where = "the real folder" if side == "real" else f"set {side}"
            raise RadsynthError(
                f"class {cls!r} has {len(idx)} image(s) in {where}; FID and KID need 2 or more "
                "of every class on every side"
            )
        out[cls] = (len(idx), pick, mine)
    return out


def subsample(idx: np.ndarray, n: int, seed: int, key: str) -> np.ndarray:
    """``n`` of ``idx`` without replacement, seeded by (seed, key); sorted."""
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return np.sort(rng.choice(idx, size=n, replace=False))


def score_one(
    cfg: CompareGeneratorsConfig, real: np.ndarray, fake: np.ndarray, seed_key: str
) -> dict[str, float]:
    """FID, KID (mean over subsets) with its bootstrap CI, precision/recall and diversity."""
    m = metrics_from_features(
        real,
        fake,
        kid_subsets=cfg.kid_subsets,
        kid_subset_size=cfg.kid_subset_size,
        seed=cfg.seed,
        k_nearest=cfg.k_nearest,
    )
    low, high, _ = kid_bootstrap(fake, real, cfg.n_boot, [cfg.seed, zlib.crc32(seed_key.encode())])
    nan = float("nan")
    return {
        "fid": m["fid"],
        "kid": m["kid_mean"],
        "kid_low": low,
        "kid_high": high,
        # Every subset is the whole matched set when N <= the subset size: the spread is 0, and
        # the float noise (~1e-16) it would otherwise show differs between machines.
        "kid_std": 0.0 if m["kid_subset_size"] >= min(len(real), len(fake)) else m["kid_std"],
        "precision": nan if m["precision"] is None else m["precision"],
        "recall": nan if m["recall"] is None else m["recall"],
        "diversity": m["diversity"],
    }


def compare_generators(cfg: CompareGeneratorsConfig) -> StageResult:
    """Score every set against the real folder; see the module docstring.

    Raises:
        RadsynthError: no sets, a malformed or duplicate set name, a missing folder or
            manifest, a real image without a class, a synthetic image without a sidecar class
            or with a class the real folder lacks, a class with < 2 images on some side (one
            line each, before OUT is written).
    """
    sets = _check(cfg)
    real_paths = image_paths(cfg.real, "real")
    set_paths = {n: image_paths(d, f"set {n}") for n, (d, _) in sets.items()}
    real_cls, classes = real_labels(real_paths, cfg.manifest, cfg.label_column)
    set_cls = {n: set_labels(set_paths[n], meta, n, classes) for n, (_, meta) in sets.items()}
    groups = matched_groups(real_cls, set_cls, classes)
    prepare_output_dir(cfg.out, STAGE, cfg)

    extractor = feature_extractor(cfg, cfg.feature, resolve_device(cfg.device))
    kw = {"batch_size": cfg.batch_size, "resize_px": cfg.resize_px}
    real_feats, cache = extract(real_paths, extractor, cache_dir=cfg.cache_dir, **kw)
    rows = []
    for name in sets:
        fake_feats, _ = extract(set_paths[name], extractor, **kw)
        for cls, (n, pick, mine) in groups.items():
            real = real_feats[subsample(pick["real"], n, cfg.seed, f"real|{cls}")]
            fake = fake_feats[subsample(mine[name], n, cfg.seed, f"{name}|{cls}")]
            scores = score_one(cfg, real, fake, f"{name}|{cls}")
            rows.append(
                GeneratorRow(
                    set=name,
                    generator=set_generator(name) or "",
                    cls=cls,
                    n=n,
                    n_real=len(pick["real"]),
                    n_synthetic=len(mine[name]),
                    feature=extractor.identity,
                    **scores,
                )
            )
            log.info("%s %s: N %d, KID %.5f, FID %.3f", name, cls, n, scores["kid"], scores["fid"])
    write_generators(cfg.out / "generators.csv", rows)
    record = {
        "classes": classes,
        "matched_n": {cls: g[0] for cls, g in groups.items()},
        "feature": extractor.identity,
        "n_boot": cfg.n_boot,
        "seed": cfg.seed,
        "rows": [r.cells() for r in rows],
    }
    atomic_write_text(cfg.out / "generators.json", json.dumps(record, indent=2) + "\n")
    write_manifest(
        cfg.out,
        STAGE,
        cfg,
        inputs=[p for p in (cfg.manifest,) if p is not None],
        seeds={"subsample_and_bootstrap": cfg.seed},
        extra={"real_feature_cache": cache, "sets": list(sets)},
    )
    return StageResult(cfg.out, _summary(rows, groups[ALL][0]))


def _summary(rows: list[GeneratorRow], n_all: int) -> str:
    overall = [r for r in rows if r.cls == ALL]
    best = min(overall, key=lambda r: r.kid)
    return (
        f"{len(overall)} set(s) at matched N {n_all}: lowest KID {best.set} {best.kid:.5f} "
        f"(95% CI {best.kid_low:.5f}-{best.kid_high:.5f}), FID {best.fid:.3f}"
    )
