"""``data/manifest.csv`` through its one record: ingest's file reads back and writes again byte
for byte, a hand-made ``image,split`` manifest takes the defaults, and a missing file, a missing
column or a bad cell is one line naming it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from radsynth.errors import RadsynthError
from radsynth.records.manifest import MANIFEST_COLUMNS, ManifestRow, read_manifest, write_manifest

#: Two rows as ingest wrote them in the tiny demo, with a label column added.
INGEST_TEXT = (
    ",".join(MANIFEST_COLUMNS) + ",finding\n"
    "train/000000.png,train,000000.png,2d5a36,903fbc,64,64,8,0,1.0,,0.186792,png,0,collection,"
    "0,1.0,0,NORMAL\n"
    "val/000001.png,val,a/b c.png,9c46ad,f8cd3e,640,512,16,1,0.912345,p7,-0.140125,dicom,1,"
    "header,90,0.75,1,\n"
)


def test_ingest_text_round_trips_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(INGEST_TEXT)
    rows = read_manifest(tmp_path / "in.csv", ("image", "split", "finding"))
    first, second = rows
    assert first.orig_width == 64 and not first.inverted and first.group == ""
    assert first.labels == {"finding": "NORMAL"} and first.value("finding") == "NORMAL"
    assert second.inverted and second.monochrome1 and second.mirrored
    assert second.rotated_deg == 90 and second.polarity_score == pytest.approx(-0.140125)
    assert second.value("group") == "p7" and second.value("finding") == ""
    write_manifest(tmp_path / "out.csv", rows, ["finding"])
    assert (tmp_path / "out.csv").read_bytes() == INGEST_TEXT.encode()
    assert read_manifest(tmp_path / "out.csv") == rows


def test_rows_round_trip(tmp_path: Path) -> None:
    rows = [
        ManifestRow("train/000000.png", "train", group="p1", labels={"sex": "F", "finding": "x"}),
        ManifestRow("test/000001.png", "test", orig_width=7, inverted=True, labels={"sex": "M"}),
    ]
    path = write_manifest(tmp_path / "manifest.csv", rows, ["sex", "finding"])
    got = read_manifest(path, ("sex", "finding"))
    assert [r.image for r in got] == [r.image for r in rows]
    assert got[0] == rows[0] and math.isnan(got[1].polarity_confidence)
    assert got[1].labels == {"sex": "M", "finding": ""}  # a value the row lacks is empty
    assert got[1].orig_width == 7 and got[1].inverted


def test_a_hand_made_manifest_takes_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("image,split,label\ntrain/a.png,train,bright\n")
    (row,) = read_manifest(tmp_path / "m.csv", ("split", "label"))
    assert row == ManifestRow("train/a.png", "train", labels={"label": "bright"})
    assert row.group == "" and row.rotated_deg == 0 and math.isnan(row.polarity_score)


def _one_line(exc: pytest.ExceptionInfo[RadsynthError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_a_missing_column_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("image,split,label\ntrain/a.png,train,bright\n")
    with pytest.raises(RadsynthError) as exc:
        read_manifest(tmp_path / "m.csv", ("image", "finding"), hint="ingest with --labels")
    message = _one_line(exc)
    assert "has no label column 'finding'" in message and str(tmp_path / "m.csv") in message
    assert "columns: image, split, label" in message and message.endswith("ingest with --labels")
    (tmp_path / "header.csv").write_text("split\n")  # no rows: the header is still checked
    with pytest.raises(RadsynthError, match="has no column 'image'"):
        read_manifest(tmp_path / "header.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(RadsynthError, match=r"has no column 'image' \(columns: none\)"):
        read_manifest(tmp_path / "empty.csv")


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RadsynthError) as exc:
        read_manifest(tmp_path / "absent" / "manifest.csv")
    assert _one_line(exc) == f"ingest manifest not found: {tmp_path / 'absent' / 'manifest.csv'}"


@pytest.mark.parametrize(
    ("column", "cell", "why"),
    [
        ("orig_width", "wide", "not a number"),
        ("inverted", "yes", "must be 0 or 1"),
        ("polarity_confidence", "high", "not a number"),
        ("rotated_deg", "1.5", "whole number"),
    ],
)
def test_a_bad_cell_is_one_line_naming_the_line(
    tmp_path: Path, column: str, cell: str, why: str
) -> None:
    (tmp_path / "m.csv").write_text(f"image,split,{column}\ntrain/a.png,train,{cell}\n")
    with pytest.raises(RadsynthError, match=f"m.csv line 2: '{cell}'.*{why}") as exc:
        read_manifest(tmp_path / "m.csv")
    _one_line(exc)


def test_a_label_column_may_not_shadow_a_fixed_one(tmp_path: Path) -> None:
    with pytest.raises(RadsynthError, match="label column 'group' is a manifest column"):
        write_manifest(tmp_path / "m.csv", [ManifestRow("a.png", "train")], ["group"])
    assert not (tmp_path / "m.csv").exists()


def test_a_manifest_without_split_reads(tmp_path: Path) -> None:
    """The release reads image, source_path and group only."""
    (tmp_path / "m.csv").write_text("image,source_path,group\ntrain/a.png,p/a.dcm,p\n")
    (row,) = read_manifest(tmp_path / "m.csv", ("source_path", "group"))
    assert (row.split, row.source_path, row.group) == ("", "p/a.dcm", "p")
