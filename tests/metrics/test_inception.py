"""TF-Inception FID/KID on real radiographs: parity with torch-fidelity, self-distance, blur,
the feature cache, and the weights' provenance checks."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from metrics_reference import torch_fidelity_imported
from PIL import Image, ImageFilter

from radsynth.errors import RadsynthError
from radsynth.metrics import formulas
from radsynth.metrics.compare import compute_metrics, extract, image_paths
from radsynth.metrics.features import make_extractor, resize_bilinear_tf1
from radsynth.metrics.inception import (
    FID_HELPER_SHA256,
    TORCH_FIDELITY_URL,
    fid_helper_file,
    load_inception,
)
from radsynth.stage import sha256_file

KID_SUBSET_SIZE = 8  # half of each set: many distinct subsets, so the KID std is not zero
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread for a while (restored after): on a small shared CPU, more
    threads mostly spin, costing CPU time without saving wall time."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class CountingExtractor:
    """A real feature extractor that counts the batches it computes features for."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0
        self.name, self.dim, self.identity = inner.name, inner.dim, inner.identity

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        self.calls += 1
        return self.inner(images)


@pytest.fixture(scope="module")
def inception():
    return make_extractor("inception")


@pytest.fixture(scope="module")
def ours(cxr_sets, inception, tmp_path_factory):
    """radsynth's metrics between the two sets, filling a feature cache for the real set."""
    real, fake = cxr_sets
    cache = tmp_path_factory.mktemp("cache")
    start = time.process_time()
    with one_thread():
        result = compute_metrics(
            real, fake, cache_dir=cache, extractors={"inception": inception},
            kid_subset_size=KID_SUBSET_SIZE,
        )  # fmt: skip
    result["cpu_s"] = time.process_time() - start
    return result, cache


@pytest.fixture(scope="module")
def reference(cxr_sets, tmp_path_factory):
    """torch-fidelity's FID and KID on the same folders with the same weights, computed in a
    single-threaded child process (see metrics_reference.py)."""
    real, fake = cxr_sets
    weights = tmp_path_factory.mktemp("tf_weights") / "inception_rekeyed.pth"
    script = Path(__file__).with_name("metrics_reference.py")
    args = [sys.executable, str(script), str(real), str(fake), str(weights), str(KID_SUBSET_SIZE)]
    proc = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **SINGLE_THREAD}, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), weights


def test_parity_with_torch_fidelity(ours, reference, cxr_sets) -> None:
    result, _ = ours
    ref, _ = reference
    print(f"radsynth {result} | torch-fidelity {ref}")
    assert result["n_real"] == result["n_fake"] == len(list(cxr_sets[0].glob("*.png")))
    assert result["cache"] == "miss"
    fid_ref = ref["frechet_inception_distance"]
    kid_ref = ref["kernel_inception_distance_mean"]
    assert abs(result["fid"] - fid_ref) <= 1e-3 * abs(fid_ref)
    assert abs(result["kid_mean"] - kid_ref) <= 1e-3 * abs(kid_ref)
    std_ref = ref["kernel_inception_distance_std"]
    assert abs(result["kid_std"] - std_ref) <= 1e-3 * abs(std_ref)
    # Normal versus pneumonia radiographs do differ.
    assert result["fid"] > 10 and result["kid_mean"] > 0


def test_torch_fidelity_format_from_the_torch_hub_cache(reference, tmp_path, monkeypatch) -> None:
    """A torch-fidelity state dict in the torch-hub cache maps back onto the TorchScript,
    tensor for tensor (the online route, without the network)."""
    _, weights = reference
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / TORCH_FIDELITY_URL.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    cached.symlink_to(weights)
    # This re-keyed copy is not the published file, so its hash is refused unless declared.
    with pytest.raises(RadsynthError, match="sha256"):
        load_inception("torch-fidelity")
    module, digest = load_inception("torch-fidelity", sha256=sha256_file(weights))
    shipped = torch.jit.load(str(fid_helper_file())).state_dict()
    loaded = module.state_dict()
    assert digest == sha256_file(weights)
    assert set(loaded) == set(shipped)
    assert all(torch.equal(loaded[k], shipped[k]) for k in shipped)


def test_resize_matches_torch_fidelity() -> None:
    x = torch.rand(2, 3, 37, 50) * 255
    with torch_fidelity_imported() as tf:
        ref = tf.interpolate_compat_tensorflow.interpolate_bilinear_2d_like_tensorflow1x(
            x, size=(299, 299), align_corners=False
        )
    assert torch.equal(resize_bilinear_tf1(x, 299), ref)


def test_set_against_itself_is_zero_and_cache_hits(ours, cxr_sets, inception) -> None:
    result, cache = ours
    real, _ = cxr_sets
    counting = CountingExtractor(inception)
    feats, status = extract(image_paths(real, "real"), counting, cache_dir=cache)
    assert status == "hit" and counting.calls == 0  # served from the cache: no network run
    assert feats.shape == (result["n_real"], 2048)
    # N = 16 << D = 2048: both covariances are singular, the stable square root still gives 0,
    # up to round-off relative to the terms that cancel, tr(S) + tr(S).
    scale = 2.0 * feats.astype(np.float64).var(axis=0, ddof=1).sum()
    assert abs(formulas.fid_from_features(feats, feats)) <= 1e-12 * scale
    assert abs(formulas.fid_from_features(feats, feats[::-1])) <= 1e-12 * scale


def test_cache_misses_when_an_image_changes(ours, cxr_sets, inception, tmp_path) -> None:
    _, cache = ours
    real, _ = cxr_sets
    changed = tmp_path / "real"
    changed.mkdir()
    paths = image_paths(real, "real")
    for p in paths:
        (changed / p.name).write_bytes(p.read_bytes())
    # One pixel of one image differs: a new key, so a miss (here with the cheap pixel space).
    img = np.array(Image.open(changed / paths[0].name))
    img[0, 0] ^= 1
    Image.fromarray(img).save(changed / paths[0].name)
    pixels = CountingExtractor(make_extractor("pixels"))
    assert extract(image_paths(changed, "real"), pixels, cache_dir=cache)[1] == "miss"
    assert pixels.calls > 0
    pixels.calls = 0
    assert extract(image_paths(changed, "real"), pixels, cache_dir=cache)[1] == "hit"
    assert pixels.calls == 0
    assert extract(image_paths(real, "real"), pixels, cache_dir=cache)[1] == "miss"
    assert pixels.calls > 0


def test_fid_rises_with_blur(ours, cxr_sets, inception, tmp_path) -> None:
    """FID against the real set grows as a copy of part of it is blurred more."""
    _, cache = ours
    real, _ = cxr_sets
    real_feats, _ = extract(image_paths(real, "real"), inception, cache_dir=cache)
    subset = image_paths(real, "real")[:8]
    fids = [formulas.fid_from_features(real_feats, real_feats[:8])]  # radius 0: no blur
    for radius in (1.5, 3.0, 6.0):
        folder = tmp_path / f"blur{radius}"
        folder.mkdir()
        for p in subset:
            Image.open(p).filter(ImageFilter.GaussianBlur(radius)).save(folder / p.name)
        with one_thread():
            feats, _ = extract(image_paths(folder, "fake"), inception)
        fids.append(formulas.fid_from_features(real_feats, feats))
    print("FID by blur radius 0, 1.5, 3, 6 px:", fids)
    assert all(a < b for a, b in zip(fids, fids[1:], strict=False)), fids


def test_weights_hash_mismatch_is_one_line(tmp_path) -> None:
    bad = tmp_path / "inception.pt"
    bad.write_bytes(fid_helper_file().read_bytes()[:-1] + b"x")
    with pytest.raises(RadsynthError, match="sha256") as err:
        load_inception(str(bad))
    assert "\n" not in str(err.value) and FID_HELPER_SHA256 in str(err.value)
