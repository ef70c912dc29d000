"""The collapse flag of the checkpoint sweep (issue 28): the diversity ratio on hand-checkable
features, the stated thresholds, and the flag in fid.csv and its older form."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from radsynth.evaluation.checkpoints import fid_row
from radsynth.evaluation.collapse import collapse_reason
from radsynth.metrics.formulas import diversity_ratio, mean_pairwise_distance
from radsynth.records.curves import read_fid, write_fid


def test_mean_pairwise_distance_by_hand() -> None:
    assert mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    # Three points on a line at 0, 1, 3: distances 1, 3, 2 -> mean 2.
    assert mean_pairwise_distance(np.array([[0.0], [1.0], [3.0]])) == pytest.approx(2.0)


def test_diversity_ratio_scales_with_the_spread_of_the_samples() -> None:
    real = np.random.default_rng(0).normal(size=(300, 8))
    assert diversity_ratio(real, real) == pytest.approx(1.0)
    centre = real.mean(axis=0)
    assert diversity_ratio(real, centre + 0.5 * (real - centre)) == pytest.approx(0.5)
    assert diversity_ratio(real, np.repeat(real[:1], 50, axis=0)) == pytest.approx(0.0)
    # Above max_n rows a seeded subset is used: the same answer every time.
    big = np.random.default_rng(1).normal(size=(2000, 4))
    assert diversity_ratio(big, big[::-1] * 2) == diversity_ratio(big, big[::-1] * 2)


@pytest.mark.parametrize(
    "diversity, precision, recall, flagged",
    [
        (0.9, 0.8, 0.5, ""),  # healthy
        (0.9, 0.1, 0.0, ""),  # poor but not collapsed: off the real manifold everywhere
        (0.2, 0.1, 0.3, "diversity 0.20"),  # samples 5x closer to each other than real films
        (0.6, 0.7, 0.0, "recall 0.000 with precision 0.70"),  # a few plausible images
        (math.nan, math.nan, math.nan, ""),  # no evidence
    ],
)
def test_collapse_thresholds(diversity, precision, recall, flagged) -> None:
    reason = collapse_reason(diversity, precision, recall)
    assert (reason == "") if not flagged else reason.startswith(flagged)


def test_the_flag_goes_into_fid_csv_and_older_files_still_read(tmp_path: Path) -> None:
    columns = ["n_real", "n_fake", "fid", "kid_mean", "kid_std", "precision", "recall"]
    metrics = dict(zip(columns, (40, 40, 12.5, 0.01, 0.002, 0.9, 0.0), strict=True))
    row = fid_row(1000, tmp_path / "step-0001000", {**metrics, "diversity": 0.12}, columns)
    assert "diversity 0.12" in row.collapse and "recall 0.000" in row.collapse
    path = write_fid(tmp_path / "fid.csv", [row])
    assert read_fid(path) == [row]

    old = tmp_path / "old.csv"
    old.write_text(
        "step,checkpoint,n_real,n_fake,fid,kid_mean,kid_std,precision,recall\n"
        "1000,step-0001000,40,40,12.5,0.01,0.002,0.9,0.2\n"
    )
    (read,) = read_fid(old)
    assert math.isnan(read.diversity) and read.collapse == "" and read.fid == 12.5
