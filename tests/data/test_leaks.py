"""Leak checks: identical pixels (and mirrored pixels) and shared patients are found."""

from pathlib import Path

import numpy as np
import pytest

from radsynth.data.imageio import write_png
from radsynth.data.leaks import (
    digest_folder,
    pixel_overlaps,
    refuse_overlap,
    shared_patients,
)
from radsynth.errors import RadsynthError


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((16, 16)).astype(np.float32)


def test_exact_and_mirrored_copies_are_found(tmp_path: Path) -> None:
    ref, other = tmp_path / "ref", tmp_path / "other"
    for i in range(3):
        write_png(ref / f"{i}.png", _image(i))
    write_png(other / "copy.png", _image(1))
    write_png(other / "flip.png", _image(2)[:, ::-1])
    write_png(other / "new.png", _image(9))
    images = sorted(other.glob("*.png"))
    plain = pixel_overlaps(images, digest_folder(ref))
    assert [(p.image.name, p.matches.name) for p in plain] == [("copy.png", "1.png")]
    both = pixel_overlaps(images, digest_folder(ref), mirror=True)
    assert {(p.image.name, p.matches.name, p.mirrored) for p in both} == {
        ("copy.png", "1.png", False),
        ("flip.png", "2.png", True),
    }
    with pytest.raises(RadsynthError, match=r"2 image\(s\).*flip.png=2.png \(mirrored\)"):
        refuse_overlap("the held-out set", both)


def test_shared_patients_and_clean_sets() -> None:
    groups = {"train/0.png": "p1", "train/1.png": "p2", "val/2.png": "p2", "val/3.png": "p3"}
    assert shared_patients(groups, "train", "val") == {"p2"}
    refuse_overlap("val", [], set())  # nothing shared: no error
    with pytest.raises(RadsynthError, match=r"1 patient id\(s\) \(p2\)"):
        refuse_overlap("val", [], shared_patients(groups, "train", "val"))
