"""Phantom labels agree with the pixels and masks that were drawn; the stage is deterministic."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from radsynth.cli import main
from radsynth.data.anatomy import DEFECTS
from radsynth.data.phantoms import PhantomConfig, make_phantoms, render_phantom

EXPECTED_VERTEBRAE = {"missing_vertebra": 6, "duplicated_vertebra": 8}


def centroid_x(mask: np.ndarray) -> float:
    """Mean column of a mask, in image-width units."""
    return float((np.nonzero(mask)[1] + 0.5).mean() / mask.shape[1])


@pytest.fixture(scope="module")
def phantoms():
    cfg = PhantomConfig(out=Path("unused"), size_px=64, seed=5, implausible_fraction=0.5,
                        negative_fraction=0.5, right_facing_fraction=0.5)  # fmt: skip
    return [render_phantom(cfg, i) for i in range(48)]


def test_all_label_values_occur(phantoms) -> None:
    assert {p.labels["defect"] for p in phantoms} == set(DEFECTS)
    assert {p.labels["facing"] for p in phantoms} == {"left", "right"}
    assert {p.labels["polarity"] for p in phantoms} == {"positive", "negative"}


def test_vertebra_counts_match_drawn_bodies(phantoms) -> None:
    for p in phantoms:
        bodies = p.masks.bodies
        ids = [k for k in np.unique(bodies) if k]
        n_vert = EXPECTED_VERTEBRAE.get(p.labels["defect"], 7)
        assert p.labels["n_vertebrae"] == n_vert
        assert len(ids) == p.labels["n_bodies"] == n_vert - 1  # C1 has no body
        rows = [np.nonzero(bodies == k)[0].mean() for k in ids]
        assert rows == sorted(rows), "bodies are numbered from the top down"


def test_facing_airway_and_elements_sides(phantoms) -> None:
    for p in phantoms:
        m, lab = p.masks, p.labels
        spine = centroid_x(m.bodies > 0)
        face = np.sign(centroid_x(m.mandible) - spine)
        assert face == (-1 if lab["facing"] == "left" else 1)
        airway = np.sign(centroid_x(m.airway) - spine)
        assert airway == (-face if lab["defect"] == "airway_posterior" else face)
        elements = np.sign(centroid_x(m.posterior) - spine)
        assert elements == (face if lab["defect"] == "elements_swapped" else -face)
        assert lab["spine_x"] == pytest.approx(spine, abs=0.05)
        assert np.sign(lab["airway_x"] - lab["spine_x"]) == airway


def test_polarity_matches_pixels(phantoms) -> None:
    """Bone brighter than the airway on positives, darker on negatives."""
    for p in phantoms:
        size = p.image.shape[0]
        band = np.zeros_like(p.masks.airway)
        band[size // 4 : 3 * size // 4] = True
        air = p.masks.airway & band & (p.masks.bodies == 0) & ~p.masks.posterior
        bone = p.image[p.masks.bodies > 0].mean()
        contrast = bone - p.image[air].mean()
        assert (contrast > 0.1) if p.labels["polarity"] == "positive" else (contrast < -0.1)


def test_image_depends_on_seed_and_index_only() -> None:
    a = PhantomConfig(out=Path("a"), n=4, seed=9)
    b = PhantomConfig(out=Path("b"), n=400, seed=9)
    for i in (0, 3):
        assert np.array_equal(render_phantom(a, i).image, render_phantom(b, i).image)
    c = PhantomConfig(out=Path("c"), n=4, seed=10)
    assert not np.array_equal(render_phantom(a, 0).image, render_phantom(c, 0).image)


def test_implausible_fraction_is_met() -> None:
    cfg = PhantomConfig(out=Path("unused"), seed=2, implausible_fraction=0.1)
    from radsynth.data.phantoms import _labels_rng

    defects = [_labels_rng(cfg, i)[0] for i in range(200)]
    assert abs(sum(d != "none" for d in defects) - 20) <= 1


def test_stage_is_deterministic_and_writes_contract(tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_phantoms(PhantomConfig(out=tmp_path / name, n=6, seed=3, contact_sheet_n=6))
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "manifest.csv").read_bytes() == (b / "manifest.csv").read_bytes()
    for p in sorted((a / "images").glob("*.png")):
        assert p.read_bytes() == (b / "images" / p.name).read_bytes()
    with open(a / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["image"] for r in rows] == [f"images/{i:06d}.png" for i in range(6)]
    assert list(rows[0])[:6] == ["image", "facing", "polarity", "plausible", "defect",
                                 "n_vertebrae"]  # fmt: skip
    assert (a / "contact_sheet.png").is_file() and (a / "manifest.json").is_file()


def test_cli_smoke(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ph"
    assert main(["phantoms", str(out), "--n", "5", "--size-px", "96", "--seed", "1"]) == 0
    assert "drew 5 phantoms" in capsys.readouterr().out
    assert len(list((out / "images").glob("*.png"))) == 5
    assert main(["phantoms", str(out), "--n", "5"]) == 2, "an existing output folder is refused"
    assert main(["phantoms", str(tmp_path / "x"), "--size-px", "32"]) == 2
    assert capsys.readouterr().err.count("\n") == 2
