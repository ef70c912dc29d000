"""``radsynth mrmc``: the CLI end to end on the Van Dyke data, and every bad input refused in
one line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vandyke import vandyke_rows

from radsynth.cli import main
from radsynth.records._csv import write_csv
from radsynth.records.mrmc import read_mrmc

COLUMNS = ("reader", "modality", "case", "truth", "rating")


def write_ratings(path: Path, rows: list[dict[str, str]]) -> Path:
    return write_csv(path, list(rows[0]), rows)


def test_cli_on_van_dyke(tmp_path: Path) -> None:
    csv = write_ratings(tmp_path / "vd.csv", vandyke_rows())
    assert main(["mrmc", str(csv), str(tmp_path / "out")]) == 0
    rec = read_mrmc(tmp_path / "out" / "mrmc.json")
    a = rec.analysis
    assert a["design"] == "crossed" and a["covariance"] == "jackknife"
    assert a["rrrc"]["test"]["statistic"] == pytest.approx(4.456, abs=5e-4)
    assert a["dbm"]["f"] == pytest.approx(a["rrrc"]["test"]["statistic"], rel=1e-9)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "mrmc.json",
        "mrmc.md",
        "mrmc_auc.csv",
        "config.json",
        "manifest.json",
    }
    text = (tmp_path / "out" / "mrmc.md").read_text()
    assert "F = 4.456" in text and "15.26" in text
    # Same input, same numbers (nothing here is random).
    assert main(["mrmc", str(csv), str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "mrmc.json").read_text())
    assert again["analysis"] == json.loads((tmp_path / "out" / "mrmc.json").read_text())["analysis"]


def test_column_flags_and_delong(tmp_path: Path) -> None:
    rename = dict(zip(COLUMNS, ("Reader", "Test", "Image", "Real", "Score"), strict=True))
    rows = [{rename[k]: v for k, v in r.items()} for r in vandyke_rows()]
    csv = write_ratings(tmp_path / "vd.csv", rows)
    flags = [f"--{c}-column={rename[c]}" for c in COLUMNS]
    assert main(["mrmc", str(csv), str(tmp_path / "out"), *flags, "--covariance", "delong"]) == 0
    a = read_mrmc(tmp_path / "out" / "mrmc.json").analysis
    assert a["covariance"] == "delong"
    assert a["or_covariances"]["var"] == pytest.approx(0.000792132, rel=1e-4)


def _refused(tmp_path: Path, capsys, rows, *extra: str) -> str:
    csv = write_ratings(tmp_path / "bad.csv", rows)
    out = tmp_path / "out"
    assert main(["mrmc", str(csv), str(out), *extra]) != 0
    assert not out.exists()
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def _edit(rows, index, **change):
    rows = [dict(r) for r in rows]
    rows[index].update(change)
    return rows


def test_incomplete_reader_refused_or_dropped(tmp_path: Path, capsys) -> None:
    rows = [r for r in vandyke_rows() if not (r["reader"] == "4" and r["case"] == "n7")]
    err = _refused(tmp_path, capsys, rows)
    assert "reader 4 did not rate" in err and "--allow-missing" in err
    csv = write_ratings(tmp_path / "gap.csv", rows)
    assert main(["mrmc", str(csv), str(tmp_path / "kept"), "--allow-missing"]) == 0
    rec = read_mrmc(tmp_path / "kept" / "mrmc.json")
    assert list(rec.dropped_readers) == ["4"] and rec.analysis["readers"] == ["0", "1", "2", "3"]
    assert any("reader 4 left out" in w for w in rec.warnings)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rating": "high"}, "is not a number"),
        ({"rating": "nan"}, "not a finite number"),
        ({"truth": "2"}, "is not 0 or 1"),
        ({"truth": "1"}, "has both truth 0 and truth 1"),
    ],
)
def test_bad_values_refused(tmp_path: Path, capsys, change, message) -> None:
    assert message in _refused(tmp_path, capsys, _edit(vandyke_rows(), 0, **change))


def test_one_modality_and_one_reader_refused(tmp_path: Path, capsys) -> None:
    one_mod = [r for r in vandyke_rows() if r["modality"] == "0"]
    assert "one modality only" in _refused(tmp_path, capsys, one_mod)
    assert (
        main(
            [
                "mrmc",
                str(write_ratings(tmp_path / "m.csv", one_mod)),
                str(tmp_path / "o1"),
                "--no-compare",
            ]
        )
        == 0
    )
    one_reader = [r for r in vandyke_rows() if r["reader"] == "0"]
    assert "needs 2 or more" in _refused(tmp_path, capsys, one_reader)


def test_missing_column_and_duplicate_refused(tmp_path: Path, capsys) -> None:
    rows = [{k: v for k, v in r.items() if k != "truth"} for r in vandyke_rows()]
    assert "lacks column(s) truth" in _refused(tmp_path, capsys, rows)
    rows = vandyke_rows()
    assert "twice" in _refused(tmp_path, capsys, [*rows, rows[0]])


def test_all_ratings_tied_gives_nulls_not_a_crash(tmp_path: Path) -> None:
    """Every rating the same: every AUC is 0.5 and every mean square 0, so F is undefined
    (null in JSON), not a ZeroDivisionError."""
    rows = [dict(r, rating="3") for r in vandyke_rows()]
    csv = write_ratings(tmp_path / "tied.csv", rows)
    assert main(["mrmc", str(csv), str(tmp_path / "out")]) == 0
    a = read_mrmc(tmp_path / "out" / "mrmc.json").analysis
    assert {r["auc"] for r in a["auc"]} == {0.5}
    assert a["rrrc"]["test"]["statistic"] is None and a["rrrc"]["test"]["p_value"] is None
    assert all(r["power"] is None for r in a["planning"]["rows"])
