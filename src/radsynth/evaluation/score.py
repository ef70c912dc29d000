"""Sample N images from one checkpoint with given settings, then score them against a real set.

:class:`EvaluationFields` are the config fields both sweeps share (same names, same meaning):
which seeds and weights are sampled, and how the images are scored. A :class:`Scorer` holds
the real set's features in every feature space (extracted once and cached in ``cache_dir``) and
scores image files against them with FID (Heusel et al. 2017), KID (Binkowski et al. 2018) and
precision/recall (Kynkaanniemi et al. 2019) from :mod:`radsynth.metrics.compare`.
:func:`sample_and_score` is the one "sample, then measure" step the sweeps loop over; sampling
resumes seed by seed (:func:`radsynth.sampling.sample.sample`), so finished images are reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from radsynth.config import arg
from radsynth.evaluation.feature_fields import FeatureNetFields, feature_extractor
from radsynth.hardware.device import resolve_device
from radsynth.hardware.flags import device_arg
from radsynth.metrics import formulas
from radsynth.metrics.compare import Feature, extract, image_paths, metrics_from_features
from radsynth.metrics.features import FeatureExtractor
from radsynth.records.curves import SCORE_COLUMNS
from radsynth.sampling.sample import SampleConfig, sample, seed_png

#: Columns of the main feature space, and of each extra one (``fid_<name>`` ...).
METRIC_COLUMNS = SCORE_COLUMNS  # the scores of one row, as the records name them
EXTRA_METRICS = ("fid", "kid_mean", "kid_std")


@dataclass(frozen=True)
class EvaluationFields(FeatureNetFields):
    """Config fields every sweep shares: the images sampled per row and how they are scored
    (the feature network's fields come from :class:`FeatureNetFields`, which compare-generators
    shares too)."""

    #: The sweeps continue a half-written output folder of the same config (``radsynth run``
    #: resumes it in place after an interruption instead of moving it aside).
    RESUMABLE: ClassVar[bool] = True

    n: int = arg(1000, help="synthetic images per row (seeds seed_start ..)")
    seed_start: int = arg(0, help="first seed; every row uses the same seeds")
    batch: int = arg(16, help="images per denoiser call")
    weights: Literal["ema", "online"] = arg("ema", help="EMA (default) or online weights")
    feature: Feature = arg("inception", help="feature space of FID, KID, precision/recall")
    extra_features: tuple[str, ...] = arg(
        ("pixels",), help="more feature spaces with their own FID/KID columns; none: no more"
    )
    cache_dir: Path | None = arg(None, help="real-feature cache; default: OUT/cache")
    device: str = device_arg()
    kid_subset_size: int = arg(formulas.KID_SUBSET_SIZE, help="KID: images per subset (capped)")


def feature_names(cfg: EvaluationFields) -> list[str]:
    """The main feature space first, then the extra ones (``none`` means no extra)."""
    extra = [f for f in cfg.extra_features if f not in (cfg.feature, "none", "")]
    return [cfg.feature, *dict.fromkeys(extra)]


def metric_columns(cfg: EvaluationFields) -> list[str]:
    """The metric columns of one row: the main space's, then ``fid_<x>`` ... per extra space."""
    extra = [f"{k}_{x}" for x in feature_names(cfg)[1:] for k in EXTRA_METRICS]
    return [*METRIC_COLUMNS, *extra]


class Scorer:
    """The real set's features in every feature space, and the extractors that score synthetic
    images against them.

    Args:
        cfg: the feature spaces and their options (:class:`EvaluationFields`).
        real: folder of real images (searched recursively; at least 2).
        cache_dir: where the real set's features are cached (filled on first use).

    Raises:
        RadsynthError: fewer than 2 real images, an unknown feature space, a missing
            ``--feature-net`` or Inception weights, a bad device (one line each, before any
            image is sampled).
    """

    def __init__(self, cfg: EvaluationFields, real: Path, cache_dir: Path) -> None:
        self.cfg, self.real, self.cache_dir = cfg, real, cache_dir
        self.real_paths = image_paths(real, "real")
        device = resolve_device(cfg.device)
        self.extractors: dict[str, FeatureExtractor] = {
            name: feature_extractor(cfg, name, device) for name in feature_names(cfg)
        }
        self._real: dict[str, np.ndarray] = {}

    def real_features(self, name: str) -> np.ndarray:
        """(N_real, D) features of the real set in feature space ``name`` (cached)."""
        if name not in self._real:
            self._real[name], _ = extract(
                self.real_paths,
                self.extractors[name],
                batch_size=self.cfg.batch_size,
                resize_px=self.cfg.resize_px,
                cache_dir=self.cache_dir,
            )
        return self._real[name]

    def identities(self) -> dict[str, str]:
        """Each feature space's identity (weights hash and preprocessing), for manifests."""
        return {name: ext.identity for name, ext in self.extractors.items()}

    def score(self, fake_paths: list[Path]) -> dict[str, Any]:
        """The metrics of ``fake_paths`` against the real set (see :func:`metric_columns`):
        FID, KID and precision/recall in the main feature space, FID and KID in each extra."""
        row: dict[str, Any] = {}
        for i, (name, ext) in enumerate(self.extractors.items()):
            real = self.real_features(name)
            fake, _ = extract(
                fake_paths, ext, batch_size=self.cfg.batch_size, resize_px=self.cfg.resize_px
            )
            values = metrics_from_features(
                real, fake, kid_subset_size=self.cfg.kid_subset_size, precision_recall=i == 0
            )
            if i == 0:
                row.update({k: values[k] for k in METRIC_COLUMNS})
                row["diversity"] = values.get("diversity")  # for the sweep's collapse flag
            else:
                row.update({f"{k}_{name}": values[k] for k in EXTRA_METRICS})
        return row


def sample_config(cfg: EvaluationFields, ckpt: Path, out: Path, **settings: Any) -> SampleConfig:
    """The ``radsynth sample`` config of one row: the sweep's seeds, batch, weights and device,
    plus the row's own ``settings`` (sampler, steps, ...)."""
    return SampleConfig(
        ckpt=ckpt,
        out=out,
        n=cfg.n,
        batch=cfg.batch,
        seed_start=cfg.seed_start,
        weights=cfg.weights,
        device=cfg.device,
        **settings,
    )


@dataclass(frozen=True)
class Scored:
    """One sampled-and-scored row."""

    metrics: dict[str, Any]  # see Scorer.score
    seconds: float  # wall-clock seconds of the sampling call (small when it resumed)
    images: list[Path]  # the scored images, in seed order


def score_sampled(sample_cfg: SampleConfig, scorer: Scorer, seconds: float = 0.0) -> Scored:
    """Score the images an earlier :func:`sample_and_score` of ``sample_cfg`` drew."""
    seeds = range(sample_cfg.seed_start, sample_cfg.seed_start + sample_cfg.n)
    images = [seed_png(sample_cfg.out, s) for s in seeds]
    return Scored(scorer.score(images), seconds, images)


def sample_and_score(sample_cfg: SampleConfig, scorer: Scorer) -> Scored:
    """Sample the images of ``sample_cfg`` (finished seeds of an earlier run are kept), then
    score them against the real set."""
    start = time.perf_counter()
    sample(sample_cfg)
    return score_sampled(sample_cfg, scorer, seconds=time.perf_counter() - start)
