"""Typed records: each file a stage writes and another reads round-trips through its one
reader/writer pair, and a bad cell (a percentile outside 0-100, a word for a number) is a
one-line error naming the file and the line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from radsynth.errors import RadsynthError
from radsynth.records import (
    CheckpointChoice,
    FidRow,
    LossRow,
    NeighbourRow,
    read_choice,
    read_fid,
    read_losses,
    read_neighbours,
    read_pairs,
    write_choice,
    write_fid,
    write_losses,
    write_neighbours,
)
from radsynth.records.screen import ScreenRow, read_screen_rows, write_screen
from radsynth.records.stats import read_stats, write_stats


def test_losses_round_trip_and_missing_validation_is_nan(tmp_path: Path) -> None:
    path = tmp_path / "losses.csv"
    write_losses(path, [LossRow(4, 0.456496, math.nan), LossRow(2, 0.809739, 0.55579)])
    rows = read_losses(path)
    assert [r.step for r in rows] == [2, 4]  # by step
    assert rows[0] == LossRow(2, 0.809739, 0.55579) and math.isnan(rows[1].val_loss)
    assert path.read_text().splitlines()[1] == "4,0.456496,nan"
    assert read_losses(tmp_path / "absent.csv") == []


def test_fid_round_trip(tmp_path: Path) -> None:
    row = FidRow(2, "train/checkpoints/step-0000002", 24, 24, 17.83, 0.1433, 6e-16, 0.0, 1 / 3)
    write_fid(tmp_path / "fid.csv", [row])
    assert read_fid(tmp_path / "fid.csv") == [row]


def test_fid_extra_feature_spaces_and_missing_values(tmp_path: Path) -> None:
    """The extra spaces' columns follow the main ones; precision/recall left out (too few
    images) are NaN in the record and empty cells in the file; text survives a round trip."""
    extra = {"fid_pixels": 3.25, "kid_mean_pixels": 0.125, "kid_std_pixels": 1e-17}
    nan = math.nan
    rows = [FidRow(4, "c/step-0000004", 3, 3, 9.5, 0.5, 0.0, nan, nan, extra),
            FidRow(2, "c/step-0000002", 3, 3, 12.0, 0.25, 0.0, nan, nan, extra)]  # fmt: skip
    path = write_fid(tmp_path / "fid.csv", rows)
    text = path.read_text()
    assert text.splitlines() == [
        "step,checkpoint,n_real,n_fake,fid,kid_mean,kid_std,precision,recall,diversity,collapse,"
        "fid_pixels,kid_mean_pixels,kid_std_pixels",
        "2,c/step-0000002,3,3,12.0,0.25,0.0,,,,,3.25,0.125,1e-17",
        "4,c/step-0000004,3,3,9.5,0.5,0.0,,,,,3.25,0.125,1e-17",
    ]
    back = read_fid(path)
    assert [r.step for r in back] == [2, 4] and back[0].extra == extra
    assert math.isnan(back[0].precision)
    write_fid(tmp_path / "again.csv", back)
    assert (tmp_path / "again.csv").read_text() == text


def test_fid_unknown_column_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fid.csv"
    path.write_text("step,checkpoint,n_real,n_fake,fid,kid_mean,kid_std,precision,recall,fdi\n"
                    "2,c,3,3,1.0,0.1,0.0,0.5,0.5,7\n")  # fmt: skip
    with pytest.raises(RadsynthError, match="unknown column 'fdi'") as err:
        read_fid(path)
    assert "\n" not in str(err.value)


def test_choice_round_trip(tmp_path: Path) -> None:
    choice = CheckpointChoice((2, 4), {2: "earliest within 10%", 4: "lowest FID"}, "Proposed")
    write_choice(tmp_path / "checkpoints.json", choice)
    assert read_choice(tmp_path / "checkpoints.json") == choice
    (tmp_path / "bad.json").write_text('{"picked": [2]}')
    with pytest.raises(RadsynthError, match="is not a checkpoint choice"):
        read_choice(tmp_path / "bad.json")


def test_neighbours_and_pairs_round_trip(tmp_path: Path) -> None:
    rows = [
        NeighbourRow("step-0000002/000001.png", "000009.png", 0.25669, 12.5, False, True),
        NeighbourRow("step-0000002/000000.png", "000099.png", 0.99, 100.0, True, False),
    ]
    write_neighbours(tmp_path / "neighbours.csv", rows)
    assert read_neighbours(tmp_path / "neighbours.csv") == rows
    ranked = [NeighbourRow(**{**r.__dict__, "rank": i}) for i, r in ((2, rows[0]), (1, rows[1]))]
    write_neighbours(tmp_path / "pairs.csv", ranked, ranked=True)
    assert [r.rank for r in read_pairs(tmp_path / "pairs.csv")] == [1, 2]


@pytest.mark.parametrize(
    ("cell", "why"),
    [("0.5", None), ("100.01", "outside 0-100 (a percentile is 0-100)"),
     ("-1", "outside 0-100"), ("high", "'high' is not a number")],
)  # fmt: skip
def test_a_percentile_has_one_unit(tmp_path: Path, cell: str, why: str | None) -> None:
    """0.5 is the 0.5th percentile, not the 50th: a reader never guesses the unit."""
    path = tmp_path / "neighbours.csv"
    header = "synthetic,train,similarity,percentile,flagged,mirrored\n"
    path.write_text(header + f"a.png,b.png,0.3,{cell},0,0\n")
    if why is None:
        assert read_neighbours(path)[0].percentile == 0.5
        return
    with pytest.raises(RadsynthError) as err:
        read_neighbours(path)
    assert why in str(err.value) and f"{path} line 2" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_column_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fid.csv"
    path.write_text("step,fid\n2,17.8\n")
    with pytest.raises(RadsynthError) as err:
        read_fid(path)
    assert "\n" not in str(err.value) and "FID table" in str(err.value)


def _stats_json() -> dict:
    """A stats.json as ``radsynth stats`` writes it (sections cut down)."""
    return {
        "schema": "radsynth.stats/1", "input": {"path": "e.csv", "sha256": "0" * 64, "n_rows": 8},
        "rater_kind": "simulated", "simulated": True, "rater_kinds_present": {"simulated": 2},
        "design": "pair", "reference_group": "real", "groups": ["real", "step-0000002"],
        "n_raters": 2, "n_items": 4, "n_judgements": 8, "excluded_rows": {},
        "identification": {"chance": 0.5, "pooled": {"n": 8, "correct": 5, "accuracy": 0.625}},
        "agreement": {}, "realism": {"group_means": {}}, "figures": {}, "warnings": ["w"],
    }  # fmt: skip


def test_stats_json_round_trips_to_the_same_bytes(tmp_path: Path) -> None:
    data = _stats_json()
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    record = read_stats(path)
    assert record.n_raters == 2 and record.simulated and record.finding_by_class is None
    write_stats(tmp_path / "again.json", record)
    assert (tmp_path / "again.json").read_text() == path.read_text()
    # A class-conditional study's file has finding_by_class, just before figures.
    data = {**{k: v for k, v in data.items() if k not in ("figures", "warnings")},
            "finding_by_class": {"shares": []}, "figures": {}, "warnings": []}  # fmt: skip
    path.write_text(json.dumps(data, indent=2) + "\n")
    write_stats(tmp_path / "again.json", read_stats(path))
    assert (tmp_path / "again.json").read_text() == path.read_text()


@pytest.mark.parametrize(
    ("change", "why"),
    [({"schema": "radsynth.stats/2"}, "has stats schema 'radsynth.stats/2'"),
     ({"n_raters": "two"}, "'n_raters' is not a whole number"),
     ({"n_raters": True}, "'n_raters' is not a whole number"),
     ({"identification": {"chance": 0.5}}, "'identification' lacks 'pooled'"),
     ({"n_raterz": 2}, "unknown key(s) n_raterz"),
     ({"groups": None}, "'groups' is not a list")],
)  # fmt: skip
def test_a_malformed_stats_json_is_one_line(tmp_path: Path, change: dict, why: str) -> None:
    path = tmp_path / "stats.json"
    path.write_text(json.dumps({**_stats_json(), **change}))
    with pytest.raises(RadsynthError) as err:
        read_stats(path)
    assert why in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)
    path.write_text(json.dumps({k: v for k, v in _stats_json().items() if k != "realism"}))
    with pytest.raises(RadsynthError, match="lacks 'realism'"):
        read_stats(path)


def test_screen_round_trip_and_p_values_are_fractions(tmp_path: Path) -> None:
    group = "step-0000002"
    rows = [ScreenRow(f"{group}/000000.png", group, 103.637779, True, 0.04),
            ScreenRow(f"{group}/000001.png", group, 2.5, False, 0.5, 0.25, 1.0, 1.0)]  # fmt: skip
    path = write_screen(tmp_path / "screen.csv", rows)
    assert path.read_text().splitlines()[1] == (
        "step-0000002/000000.png,step-0000002,103.637779,1,0.04000,1.00000,1.00000,1.00000,"
        "1.00000,1.00000"
    )
    assert read_screen_rows(path) == rows
    # A file from before p_symmetry: the missing part is NaN, the rest reads.
    path.write_text("image,group,score,flagged,p_anatomy\na.png,g,1.5,0,0.3\n")
    (old,) = read_screen_rows(path)
    assert old.p_anatomy == 0.3 and math.isnan(old.p_symmetry) and math.isnan(old.p_midline)
    write_screen(tmp_path / "again.csv", [old])
    assert (tmp_path / "again.csv").read_text().splitlines()[1] == "a.png,g,1.500000,0,0.30000,,,,,"
    path.write_text("image,group,score,flagged,p_anatomy\na.png,g,1.5,0,30\n")
    with pytest.raises(RadsynthError, match="outside 0-1 .a p-value is a fraction 0-1.") as err:
        read_screen_rows(path)
    assert f"{path} line 2" in str(err.value)
