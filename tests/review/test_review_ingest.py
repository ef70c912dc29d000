"""End to end on real films: ingest keeps uncertain films out, a reviewer decides them on the
review page, and the next ingest brings each one back into the training split transformed as
decided (or lists it as rejected when excluded)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from review_helpers import read_csv, review_client, rotate_suggestion, same_pixels

from radsynth.data.imageio import list_images, read_gray, write_png
from radsynth.data.ingest import IngestConfig, ingest
from radsynth.data.resample import scale_to_fit
from radsynth.data.review_decisions import (
    make_decision,
    read_ingest_decisions,
    write_ingest_decisions,
)
from radsynth.errors import RadsynthError

SIZE_PX = 64


def _ingest(src: Path, out: Path, decisions: Path | None = None) -> None:
    ingest(IngestConfig(src=src, out=out, size_px=SIZE_PX, val_fraction=0.0, review_below=1.0,
                        review_decisions=decisions))  # fmt: skip


@pytest.fixture
def reviewed(cxr_dir: Path, tmp_path: Path) -> dict:
    """Six real paediatric films (film-1 stored inverted, film-2 turned 90 degrees, film-3
    mirrored) and a real CR DICOM, ingested; then a reviewer decides five of the six films."""
    originals = [read_gray(p) for p in list_images(cxr_dir)[:6]]
    src = tmp_path / "src"
    src.mkdir()
    stored = [originals[0], 1.0 - originals[1], np.rot90(originals[2], 1),
              originals[3][:, ::-1], originals[4], originals[5]]  # fmt: skip
    for i, img in enumerate(stored):
        write_png(src / f"film-{i}.png", img)
    dicom = pytest.importorskip("pydicom.data").get_testdata_file("RG3_UNCR.dcm")
    (src / "cr.dcm").write_bytes(Path(dicom).read_bytes())
    _ingest(src, tmp_path / "data1")
    first = {r["source_path"]: r for r in read_csv(tmp_path / "data1" / "review.csv")}
    assert sorted(first) == [f"film-{i}.png" for i in range(6)]
    rotate_suggestion(tmp_path / "data1", "film-2.png", 90)  # as the collection checks would

    client = review_client(tmp_path / "review", ingest=tmp_path / "data1")
    for source, choice in (("film-0.png", "as_is"), ("film-1.png", "inverted"),
                           ("film-2.png", "rotated"), ("film-3.png", "mirrored"),
                           ("film-4.png", "exclude")):  # fmt: skip
        form = {"reviewer": "ann", "source_path": source, "choice": choice}
        assert client.post("/ingest/decide", form, follow_redirects=False).status_code == 303
    client.close()
    return {"src": src, "originals": originals, "first": first, "root": tmp_path,
            "decisions": tmp_path / "review" / "review_decisions.csv"}  # fmt: skip


def test_decided_films_come_back_as_decided(reviewed):
    root, first = reviewed["root"], reviewed["first"]
    _ingest(reviewed["src"], root / "data2", reviewed["decisions"])
    rows = {r["source_path"]: r for r in read_csv(root / "data2" / "manifest.csv")}
    assert sorted(rows) == ["cr.dcm", "film-0.png", "film-1.png", "film-2.png", "film-3.png"]
    assert all(r["split"] == "train" for r in rows.values())
    fields = {k: (r["polarity_source"], r["inverted"], r["rotated_deg"], r["mirrored"])
              for k, r in rows.items()}  # fmt: skip
    assert fields == {
        "cr.dcm": ("header", "0", "0", "0"),
        "film-0.png": ("reviewer", "0", "0", "0"),
        "film-1.png": ("reviewer", "1", "0", "0"),
        "film-2.png": ("reviewer", "0", "270", "0"),
        "film-3.png": ("reviewer", "0", "0", "1"),
    }
    assert [r["source_path"] for r in read_csv(root / "data2" / "review.csv")] == ["film-5.png"]
    rejected = {r["source_path"]: r["reason"] for r in read_csv(root / "data2" / "rejected.csv")}
    assert rejected == {"film-4.png": "excluded by reviewer ann"}

    # Each film is the reviewed image (as read) transformed as decided ...
    def shown(source: str) -> np.ndarray:
        return read_gray(root / "data1" / first[source]["review_image"])

    def kept(source: str) -> np.ndarray:
        return read_gray(root / "data2" / rows[source]["image"])

    assert same_pixels(kept("film-0.png"), shown("film-0.png"))
    assert same_pixels(kept("film-1.png"), 1.0 - shown("film-1.png"))
    assert same_pixels(kept("film-2.png"), np.rot90(shown("film-2.png"), -1))
    assert same_pixels(kept("film-3.png"), shown("film-3.png")[:, ::-1])
    # ... which is the original film again (resampling and an 8-bit PNG apart).
    for i in (1, 2, 3):
        expected = scale_to_fit(reviewed["originals"][i], SIZE_PX, "pad")
        assert np.abs(kept(f"film-{i}.png") - expected).mean() < 2 / 255


def test_decisions_outlive_the_films_they_brought_back(reviewed):
    """The page over the new ingest folder no longer lists the restored films, but keeps their
    decisions in the file, so the ingest after that gives the same training set."""
    root = reviewed["root"]
    _ingest(reviewed["src"], root / "data2", reviewed["decisions"])
    client = review_client(root / "review", ingest=root / "data2")
    page = client.get("/ingest", params={"reviewer": "bo"}).text
    assert "Decided films no longer in review.csv" in page and "film-2.png" in page
    client.close()
    assert len(read_ingest_decisions(reviewed["decisions"])) == 5
    _ingest(reviewed["src"], root / "data3", reviewed["decisions"])
    assert (root / "data2" / "manifest.csv").read_bytes() == (
        root / "data3" / "manifest.csv").read_bytes()  # fmt: skip
    for row in read_csv(root / "data2" / "manifest.csv"):
        assert (root / "data2" / row["image"]).read_bytes() == (
            root / "data3" / row["image"]).read_bytes()  # fmt: skip


def test_a_changed_file_is_not_matched(reviewed, caplog):
    """A decision names its film's bytes: after the file changed it is not applied (warned)."""
    root = reviewed["root"]
    write_png(reviewed["src"] / "film-0.png", reviewed["originals"][0][::-1])
    with caplog.at_level(logging.WARNING):
        _ingest(reviewed["src"], root / "data2", reviewed["decisions"])
    assert "1 review decision(s) name no film" in caplog.text and "film-0.png" in caplog.text
    rows = {r["source_path"] for r in read_csv(root / "data2" / "manifest.csv")}
    assert "film-0.png" not in rows and "film-1.png" in rows


def test_a_bad_decisions_file_is_one_line(reviewed, tmp_path):
    bad = tmp_path / "bad.csv"
    text = reviewed["decisions"].read_text()
    bad.write_text(text.replace(",keep,1,0,0,ann,", ",keep,1,45,0,ann,"))
    with pytest.raises(RadsynthError, match="rotation_deg '45' is not 0/90/180/270"):
        _ingest(reviewed["src"], tmp_path / "x", bad)
    with pytest.raises(RadsynthError, match="is missing"):
        _ingest(reviewed["src"], tmp_path / "y", tmp_path / "none.csv")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_decision_on_a_dicom_applies_after_its_header(reviewed):
    """A DICOM reaches review only for rotation (its header decides polarity); a decision on
    one transforms the film as its header displays it."""
    root = reviewed["root"]
    first = {r["source_path"]: r for r in read_csv(root / "data1" / "manifest.csv")}
    decisions = read_ingest_decisions(reviewed["decisions"])
    sha = first["cr.dcm"]["source_sha256"]
    decisions["cr.dcm"] = make_decision("mirrored", "cr.dcm", sha, 0, "ann", "2026-01-01T00:00:00")
    write_ingest_decisions(root / "review", decisions.values())
    _ingest(reviewed["src"], root / "data2", reviewed["decisions"])
    rows = {r["source_path"]: r for r in read_csv(root / "data2" / "manifest.csv")}
    r = rows["cr.dcm"]
    assert (r["polarity_source"], r["monochrome1"], r["mirrored"]) == ("reviewer", "1", "1")
    before = read_gray(root / "data1" / first["cr.dcm"]["image"])
    assert same_pixels(read_gray(root / "data2" / r["image"]), before[:, ::-1])
