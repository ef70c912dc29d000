"""`radsynth compare-generators`: FID, KID with a bootstrap CI and precision/recall of several
generators' sets against the real test split, overall and per class, at matched N."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from fake_runs import make_disc_ingest

from radsynth.cli import main
from radsynth.io import read_csv_rows
from radsynth.metrics.formulas import mmd2_unbiased, polynomial_kernel
from radsynth.metrics.kid_bootstrap import kid_bootstrap, mmd2_resampled
from radsynth.records.generators import read_generators

GAN, DDPM = "gan/step-0000400", "ddpm/step-0000600"
FAST = ["--feature", "pixels", "--n-boot", "200", "--kid-subsets", "10"]


def fake_set(folder: Path, n: int, seed: int, meta: Path | None = None, peak: str = "") -> Path:
    """Drawn discs as a sample folder: PNGs and a sidecar per image naming its class."""
    src = make_disc_ingest(folder.parent / f"{folder.name}-src", {"train": n}, 16, seed)
    meta = meta or folder / "meta"
    meta.mkdir(parents=True)
    folder.mkdir(exist_ok=True)
    for i, row in enumerate(read_csv_rows(src / "manifest.csv")):
        shutil.copy(src / row["image"], folder / f"{i:06d}.png")
        label = peak or row["label"]
        (meta / f"{i:06d}.json").write_text(json.dumps({"seed": i, "label": label}))
    return folder


def _setup(tmp_path: Path) -> tuple[Path, list[str]]:
    data = make_disc_ingest(tmp_path / "data", {"train": 4, "test": 30}, size_px=16)
    gan = fake_set(tmp_path / "gan", 24, seed=1)
    meta = tmp_path / "ddpm-meta"
    ddpm = fake_set(tmp_path / "ddpm", 20, seed=2, meta=meta)
    args = [
        str(data / "test"),
        "--manifest",
        str(data / "manifest.csv"),
        "--sets",
        f"{GAN}={gan}",
        f"{DDPM}={ddpm}",
        "--sets-meta",
        f"{DDPM}={meta}",
    ]
    return data, args


def test_two_sets_at_matched_n_with_a_kid_ci_and_the_same_csv_for_the_same_seed(
    tmp_path: Path,
) -> None:
    _, args = _setup(tmp_path)
    out = tmp_path / "compare"
    assert main(["compare-generators", args[0], str(out), *args[1:], *FAST]) == 0
    rows = read_generators(out / "generators.csv")
    assert [(r.set, r.cls) for r in rows] == [
        (s, c) for s in (GAN, DDPM) for c in ("all", "bright", "dark")
    ]
    # matched N: the smallest side (ddpm: 20 images, 10 per class; real 30, gan 24)
    assert {(r.cls, r.n) for r in rows} == {("all", 20), ("bright", 10), ("dark", 10)}
    assert [r.n_synthetic for r in rows] == [24, 12, 12, 20, 10, 10]
    assert {r.generator for r in rows} == {"gan", "ddpm"}
    for r in rows:
        assert r.kid_low <= r.kid <= r.kid_high, r
        assert r.kid_std == 0.0  # N <= the KID subset size: every subset is the whole set
        assert r.fid >= 0 and 0 <= r.precision <= 1 and 0 <= r.recall <= 1
    record = json.loads((out / "generators.json").read_text())
    assert record["matched_n"] == {"all": 20, "bright": 10, "dark": 10}
    assert (out / "config.json").is_file()
    assert json.loads((out / "manifest.json").read_text())["complete"] is True

    again = tmp_path / "again"
    assert main(["compare-generators", args[0], str(again), *args[1:], *FAST]) == 0
    assert (again / "generators.csv").read_bytes() == (out / "generators.csv").read_bytes()
    other = tmp_path / "other-seed"
    assert main(["compare-generators", args[0], str(other), *args[1:], *FAST, "--seed", "1"]) == 0
    assert (other / "generators.csv").read_bytes() != (out / "generators.csv").read_bytes()


def test_without_a_manifest_only_the_overall_rows(tmp_path: Path) -> None:
    _, args = _setup(tmp_path)
    out = tmp_path / "compare"
    sets = args[args.index("--sets") : args.index("--sets-meta")]
    assert main(["compare-generators", args[0], str(out), *sets, *FAST]) == 0
    assert [(r.cls, r.n) for r in read_generators(out / "generators.csv")] == [("all", 20)] * 2


def test_refusals_are_one_line_and_write_nothing(tmp_path: Path, capsys) -> None:
    data, args = _setup(tmp_path)
    gan = str(tmp_path / "gan")
    only_bright = fake_set(tmp_path / "bright", 6, seed=3, peak="bright")
    grey = fake_set(tmp_path / "grey", 6, seed=4, peak="grey")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(tmp_path / "gan" / "000000.png", bare / "000000.png")
    shutil.copy(tmp_path / "gan" / "000001.png", bare / "000001.png")
    manifest = ["--manifest", str(data / "manifest.csv")]
    cases = [
        ([], "give at least one synthetic set"),
        (["--sets", f"{GAN}={gan}", f"{GAN}={gan}"], "given twice"),
        (["--sets", f"{GAN}={tmp_path / 'none'}"], "folder not found"),
        (["--sets", f"{GAN}={only_bright}", *manifest], "class 'dark' has 0 image(s) in set"),
        (["--sets", f"{GAN}={grey}", *manifest], "has class 'grey', which the real images lack"),
        (["--sets", f"{GAN}={bare}", *manifest], "no readable sidecar"),
        (["--sets", f"{GAN}={gan}", "--sets-meta", f"x={gan}"], "'x' is not one of the sets"),
        (["--sets", f"{GAN}={gan}", *manifest, "--label-column", "sex"], "no label column 'sex'"),
    ]
    for i, (extra, message) in enumerate(cases):
        out = tmp_path / f"o{i}"
        assert main(["compare-generators", args[0], str(out), *extra, *FAST]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (message, err)
        assert not out.exists()


def test_a_resample_without_repeats_is_the_unbiased_mmd() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1, size=(6, 3))
    kxx, kxy, kyy = polynomial_kernel(x, x), polynomial_kernel(x, y), polynomial_kernel(y, y)
    i, j = rng.permutation(7), rng.permutation(6)
    # mmd2_unbiased takes equal sizes; the within-set means do not need them
    want = (kxx.sum() - np.trace(kxx)) / 42 + (kyy.sum() - np.trace(kyy)) / 30 - 2 * kxy.mean()
    assert np.isclose(mmd2_resampled(kxx, kxy, kyy, i, j), want, rtol=1e-12)
    sq = polynomial_kernel(x[:6], x[:6])
    assert np.isclose(
        mmd2_resampled(sq, polynomial_kernel(x[:6], y), kyy, np.arange(6), np.arange(6)),
        mmd2_unbiased(sq, polynomial_kernel(x[:6], y), kyy),
        rtol=1e-12,
    )


def test_repeated_draws_leave_out_pairs_of_one_image() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(4, 2))
    i, j = np.array([0, 0, 1, 3, 3]), np.array([2, 2, 2, 0])

    def k(u: np.ndarray, v: np.ndarray) -> np.ndarray:  # the KID kernel for D = 2
        return (u @ v.T / 2 + 1) ** 3

    wx = np.mean([k(x[a], x[b]) for a in i for b in i if a != b])
    wy = np.mean([k(y[a], y[b]) for a in j for b in j if a != b])
    cross = np.mean([k(x[a], y[b]) for a in i for b in j])
    got = mmd2_resampled(k(x, x), k(x, y), k(y, y), i, j)
    assert np.isclose(got, wx + wy - 2 * cross, rtol=1e-12)


def test_the_kid_interval_holds_the_estimate_and_is_seeded() -> None:
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(60, 4)), rng.normal(0.3, 1.1, size=(50, 4))
    kxx, kxy = polynomial_kernel(fake[:50], fake[:50]), polynomial_kernel(fake[:50], real[:50])
    point = mmd2_unbiased(kxx, kxy, polynomial_kernel(real[:50], real[:50]))
    low, high, values = kid_bootstrap(fake, real, 300, seed=5)
    assert low < point < high and values.shape == (300,)
    assert kid_bootstrap(fake, real, 300, seed=5)[:2] == (low, high)
