"""A cache of a real image set's features, keyed by the images' hashes and the extractor.

The real set is the same for every checkpoint of a sweep and for every later comparison, and
its Inception pass is the slow part (about 10-50 images/s on a CPU). One ``.npz`` per key holds
the (N, D) features and their mean and covariance.

The key is the sha256 of the extractor identity (network, weights hash, resize), the resize
policy, and the ordered sha256 of every image file; renaming, adding, removing or editing any
image, or changing the weights, gives a new key. Ordered, because KID's random subsets index
the features by position.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

import numpy as np

from radsynth.stage import atomic_path, sha256_file

log = logging.getLogger(__name__)


def cache_key(paths: list[Path], identity: str, preprocess: str) -> str:
    """Hex sha256 over the extractor identity, the preprocessing and the files' sha256."""
    digest = hashlib.sha256()
    digest.update(json.dumps([identity, preprocess, len(paths)]).encode())
    for path in paths:
        digest.update(bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()


def cache_file(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"features-{key[:32]}.npz"


def load_cached(cache_dir: Path, key: str) -> np.ndarray | None:
    """The cached (N, D) features for ``key``, or None on a miss or an unreadable entry."""
    path = cache_file(cache_dir, key)
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            if str(data["key"]) != key:
                return None
            return data["features"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable feature cache %s (%s)", path, exc)
        return None


def save_cached(cache_dir: Path, key: str, features: np.ndarray) -> Path:
    """Store features with their mean and covariance, atomically."""
    path = cache_file(cache_dir, key)
    mu = features.mean(axis=0, dtype=np.float64)
    sigma = np.cov(features.astype(np.float64), rowvar=False)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, key=np.array(key), features=features, mu=mu, sigma=sigma)
    return path
