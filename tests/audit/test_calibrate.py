"""Calibration bound and the literature numbers, on hand-checkable inputs."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.audit.calibrate import calibrate, needed, order_threshold
from radsynth.audit.findings import copies, duplicate_groups, literature_numbers, mode_collapse
from radsynth.errors import RadsynthError


def test_needed_counts():
    assert (needed(99.5), needed(99.0), needed(95.0), needed(50.0)) == (200, 100, 20, 2)


def _scores(n: int, seed: int = 0) -> np.ndarray:
    # Held-out NN scores of new films, shaped like those measured on paediatric films with
    # feature=copy (median 0.919, quartiles 0.891 and 0.939, max of 337: 0.967).
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.915, 0.035, n), -1, 0.975).astype(np.float32)


@pytest.mark.parametrize("dup", [1.0, 0.9999, 0.995])
def test_one_duplicate_moves_the_threshold_at_most_one_rank(dup):
    scores = _scores(200)
    base = calibrate(scores, 99.5)
    with_dup = calibrate(np.append(scores, dup), 99.5)
    ranked = np.sort(scores)
    need = int(np.ceil(0.995 * 200))
    assert base.threshold == order_threshold(scores, 99.5)
    assert with_dup.threshold <= np.nextafter(ranked[need], np.float32(2))  # next order stat
    assert with_dup.threshold < with_dup.fence < 0.99  # a copy's score never sets it
    assert not with_dup.kept[-1]  # the duplicate is listed as dropped
    # The old rule (percentile of all scores) was pushed to the duplicate with 150 images.
    assert order_threshold(np.append(_scores(150), 1.0), 99.5) > 1.0


def test_many_duplicates_never_lift_the_threshold_above_the_fence():
    scores = np.append(_scores(400, 1), np.full(20, 0.9999))
    cal = calibrate(scores, 99.5)
    assert not cal.kept[400:].any() and cal.kept[:400].all()
    assert cal.threshold <= np.nextafter(np.float32(cal.fence), 2)


def test_too_few_held_out_images_say_how_many():
    with pytest.raises(RadsynthError, match="199 held-out images .* at least 200 are needed"):
        calibrate(_scores(199), 99.5)
    with pytest.raises(RadsynthError, match=r"\(1 dropped as near-copies"):
        calibrate(np.append(_scores(199), 1.0), 99.5)


def test_literature_numbers_with_verdicts():
    flagged = np.array([1, 1, 0, 1, 0], bool)
    names = ["a", "b", "c", "d", "e"]
    is_copy = copies(flagged, names, {"b": "not", "c": "memorized", "e": "not"})
    assert list(is_copy) == [True, False, True, True, False]
    train_index = np.array([0, 1, 0, 3, 2])
    out = literature_numbers(is_copy, train_index, 10, ["p0", "p0", "p1", "p2"] + ["p9"] * 6)
    assert out["synthetic_copies"]["count"] == 3 and out["synthetic_copies"]["n"] == 5
    assert out["training_images_copied"]["count"] == 2  # images 0 and 3
    assert out["training_patients_copied"]["count"] == 2  # p0, p2 of 4 patients
    assert out["training_patients_copied"]["n"] == 4
    lo, hi = out["synthetic_copies"]["ci95"]
    # R: prop.test(3, 5, correct = FALSE)$conf.int -> 0.2307, 0.8824
    assert lo == pytest.approx(0.2307, abs=1e-4) and hi == pytest.approx(0.8824, abs=1e-4)


def test_duplicate_groups_are_connected_components():
    score = np.array([0.99, 0.99, 0.5, 0.98, 0.2, 0.97])
    partner = np.array([1, 0, 0, 5, 0, 3])
    groups = duplicate_groups(score, partner, 0.95)
    assert groups == [[0, 1], [3, 5]]
    assert mode_collapse(6, groups)["distinct_images"] == 4
