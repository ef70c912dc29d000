"""Checkpoint proposal from the FID and validation-loss curves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radsynth.errors import RadsynthError
from radsynth.pipeline.choose import (
    named_checkpoints,
    propose_checkpoints,
    val_loss_curve,
    write_choice,
)


def test_proposal_follows_the_rules() -> None:
    fid = {2000: 90.0, 4000: 40.0, 6000: 31.0, 8000: 30.0, 10000: 33.0}
    val = {2000: 0.09, 4000: 0.05, 6000: 0.045, 8000: 0.047, 10000: 0.041}
    choice = propose_checkpoints(fid, val, count=3, tolerance=0.1)
    # lowest FID 8000; earliest within 10% of 30.0 is 6000 (31.0); lowest val loss 10000.
    assert choice.steps == (6000, 8000, 10000)
    assert "lowest FID" in choice.reasons[8000]
    assert "earliest" in choice.reasons[6000]
    assert "validation loss" in choice.reasons[10000]


def test_proposal_fills_with_next_best_fid_and_respects_count() -> None:
    fid = {1: 10.0, 2: 5.0, 3: 7.0, 4: 6.0}
    choice = propose_checkpoints(fid, {}, count=3, tolerance=0.0)
    assert choice.steps == (2, 3, 4)
    assert propose_checkpoints(fid, {}, count=1).steps == (2,)


def test_named_checkpoints_must_exist() -> None:
    assert named_checkpoints((4, 8), [2, 4, 6, 8]).steps == (4, 8)
    with pytest.raises(RadsynthError, match=r"\[5\] not in the training run"):
        named_checkpoints((4, 5), [2, 4, 6, 8])


def test_empty_curves_are_an_error() -> None:
    with pytest.raises(RadsynthError):
        propose_checkpoints({}, {})


def test_curve_round_trip(tmp_path: Path) -> None:
    csv_path = tmp_path / "losses.csv"
    csv_path.write_text("step,train_loss,val_loss\n100,0.5,0.6\n200,0.4,\n")
    assert val_loss_curve(csv_path) == {100: 0.6}
    choice = propose_checkpoints({}, {100: 0.6, 200: 0.5}, count=1)
    write_choice(tmp_path / "checkpoints.json", choice, "Proposed")
    saved = json.loads((tmp_path / "checkpoints.json").read_text())
    assert saved["chosen"] == [200] and "lowest validation loss" in saved["reason"]
