"""``radsynth fid``: CLI smoke test, one-line errors on bad input, N warnings, feature spaces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radsynth.cli import main
from radsynth.data.imageio import write_png
from radsynth.metrics.compare import compute_metrics


def blobs(folder: Path, n: int, size_px: int = 32, seed: int = 0, shift: float = 0.0) -> Path:
    """``n`` grey PNGs of a soft disc at seeded random places (``shift`` moves them right)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size_px, 0:size_px] / size_px
    for i in range(n):
        cx, cy, r = rng.uniform(0.3, 0.6) + shift, rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.3)
        write_png(folder / f"{i:03d}.png", np.clip(1.2 - np.hypot(xx - cx, yy - cy) / r, 0, 1))
    return folder


def run_fid(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["fid", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_smoke_prints_and_writes_json(tmp_path, capsys) -> None:
    real, fake = blobs(tmp_path / "real", 12), blobs(tmp_path / "fake", 10, seed=1, shift=0.2)
    out_json = tmp_path / "m.json"
    code, out, err = run_fid(capsys, real, fake, "--feature", "pixels", "--json", out_json)
    assert code == 0, err
    for word in ("FID", "KID", "±", "precision", "recall", "N real 12 fake 10"):
        assert word in out
    data = json.loads(out_json.read_text())
    assert data["n_real"] == 12 and data["n_fake"] == 10 and data["feature"] == "pixels"
    assert data["fid"] > 0 and 0 <= data["precision"] <= 1 and 0 <= data["recall"] <= 1
    assert data["kid_subset_size"] == 10 and data["cache"] == "off"
    # Deterministic: the same folders give the same numbers.
    again = compute_metrics(real, fake, feature="pixels")
    assert {k: again[k] for k in ("fid", "kid_mean", "kid_std")} == {
        k: data[k] for k in ("fid", "kid_mean", "kid_std")
    }
    # An existing JSON is never silently replaced.
    code, _, err = run_fid(capsys, real, fake, "--feature", "pixels", "--json", out_json)
    assert code == 2 and "exists" in err and len(err.strip().splitlines()) == 1


def test_self_distance_is_zero_and_shift_is_not(tmp_path) -> None:
    real = blobs(tmp_path / "real", 12)
    same = compute_metrics(real, real, feature="pixels")
    assert abs(same["fid"]) < 1e-9 and same["precision"] == same["recall"] == 1.0
    moved = compute_metrics(real, blobs(tmp_path / "moved", 12, shift=0.3), feature="pixels")
    assert moved["fid"] > 1.0


def test_baseline_at_different_n_warns(tmp_path, capsys) -> None:
    real = blobs(tmp_path / "real", 12)
    fake_a, fake_b = blobs(tmp_path / "a", 10, seed=1), blobs(tmp_path / "b", 6, seed=2)
    base = tmp_path / "base.json"
    assert run_fid(capsys, real, fake_a, "--feature", "pixels", "--json", base)[0] == 0
    second = tmp_path / "second.json"
    args = (real, fake_b, "--feature", "pixels", "--json", second, "--baseline", base)
    code, out, _ = run_fid(capsys, *args)
    assert code == 0 and "ΔFID vs baseline" in out
    warnings = json.loads(second.read_text())["warnings"]
    assert any("n_fake: 10 vs 6" in w for w in warnings)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda r, f: blobs(f, 1), "has 1 image(s); FID needs at least 2"),
        (lambda r, f: f.mkdir(), "has 0 image(s)"),
        (lambda r, f: (blobs(f, 3), blobs(f / "big", 2, size_px=48)), "mixed image sizes"),
        (lambda r, f: (blobs(f, 3), (f / "bad.png").write_bytes(b"not a png")), "cannot read"),
        (lambda r, f: None, "image folder not found"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, make, message) -> None:
    real, fake = blobs(tmp_path / "real", 4), tmp_path / "fake"
    make(real, fake)
    code, out, err = run_fid(capsys, real, fake, "--feature", "pixels")
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_resize_policy_accepts_mixed_sizes(tmp_path) -> None:
    real, fake = blobs(tmp_path / "real", 4), tmp_path / "fake"
    blobs(fake, 3), blobs(fake / "big", 2, size_px=48)
    result = compute_metrics(real, fake, feature="pixels", resize_px=32)
    assert result["n_fake"] == 5


def test_weights_with_unknown_hash_are_refused(tmp_path, capsys) -> None:
    real, fake = blobs(tmp_path / "real", 4), blobs(tmp_path / "fake", 4, seed=3)
    weights = tmp_path / "pt_inception-2015-12-05.pt"
    weights.write_bytes(b"\0" * 1024)
    code, _, err = run_fid(capsys, real, fake, "--inception-weights", weights)
    assert code == 2 and "sha256" in err and "expected" in err
    assert len(err.strip().splitlines()) == 1


def test_torchscript_feature_space_reported_beside(tmp_path) -> None:
    """A user-supplied TorchScript network (a stand-in for, e.g., a RadImageNet encoder)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2)
    )
    path = tmp_path / "encoder.pt"
    torch.jit.save(torch.jit.script(net.eval()), str(path))
    real, fake = blobs(tmp_path / "real", 8), blobs(tmp_path / "fake", 8, seed=4, shift=0.2)
    result = compute_metrics(
        real, fake, feature="pixels", extra_features=("torchscript",), feature_net=path,
        feature_net_size_px=24,
    )  # fmt: skip
    assert result["feature"] == "pixels"
    assert result["fid_torchscript"] > 0 and "kid_mean_torchscript" in result
    assert "precision_torchscript" not in result  # precision/recall only in the main space
