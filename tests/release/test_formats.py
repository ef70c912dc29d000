"""DICOM Secondary Capture written and read back with pydicom, and the metadata/token checks on
tiny hand-made inputs."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, PngImagePlugin
from release_setup import do_release, read_csv

from radsynth.errors import RadsynthError
from radsynth.fates.records import read_screen, write_screen_decisions
from radsynth.release.build import public_sidecar
from radsynth.release.checks import SensitiveTokens, png_metadata_chunks
from radsynth.release.collect import decide, pseudonyms
from radsynth.release.formats import (
    check_synthetic_tags,
    dicom_bytes,
    dicom_dataset,
    encode_png,
    uid,
)
from radsynth.release.manifest import metadata_columns


def test_dicom_release_reads_back_as_synthetic_secondary_capture(tiny_run, tmp_path) -> None:
    out = tmp_path / "release"
    do_release(tiny_run, out, format="dicom")
    rows = read_csv(out / "metadata.csv")
    uids = set()
    for row in rows:
        ds = pydicom.dcmread(out / "dicom" / f"{row['id']}.dcm")
        assert ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert "SYNTHETIC" in ds.SeriesDescription and "SYNTHETIC" in ds.StudyDescription
        assert ds.BurnedInAnnotation == "NO" and ds.ConversionType == "SYN"
        # Present (type 2) but empty.
        assert "PatientName" in ds and "PatientID" in ds
        assert str(ds.PatientName) == "" and ds.PatientID == ""
        assert row["checkpoint"] in ds.SeriesDescription
        png = np.asarray(Image.open(out / row["file_name"]))
        assert np.array_equal(ds.pixel_array, png)
        uids.add(ds.SOPInstanceUID)
        assert check_synthetic_tags(ds) == []
    assert len(uids) == len(rows)  # a new UID per image
    assert len({pydicom.dcmread(p).StudyInstanceUID for p in (out / "dicom").iterdir()}) == 1


def _dataset() -> pydicom.Dataset:
    return dicom_dataset(np.zeros((4, 6), np.uint16), study_uid=uid("s"), series_uid=uid("r"),
                         instance_uid=uid("i"), series_number=1, instance_number=1,
                         description="test")  # fmt: skip


def test_dicom_check_refuses_tags_that_are_not_the_synthetic_ones() -> None:
    ds = _dataset()
    assert check_synthetic_tags(ds) == []
    ds.InstitutionName = "St Elsewhere"
    ds.PatientName = "Doe^Jane"
    assert check_synthetic_tags(ds) == ["tag InstitutionName", "PatientName not empty"]


def test_16_bit_dicom_round_trips() -> None:
    pixels = np.arange(24, dtype=np.uint16).reshape(4, 6) * 2000
    ds = dicom_dataset(pixels, study_uid=uid("s"), series_uid=uid("r"), instance_uid=uid("i"),
                       series_number=1, instance_number=1, description="test")  # fmt: skip
    back = pydicom.dcmread(io.BytesIO(dicom_bytes(ds)))
    assert back.BitsStored == 16 and np.array_equal(back.pixel_array, pixels)


def _png(**text: str) -> bytes:
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        if k == "Title":
            info.add_itxt(k, v)
        else:
            info.add_text(k, v)
    Image.new("L", (4, 4)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def test_png_metadata_chunks() -> None:
    assert png_metadata_chunks(_png()) == []
    assert png_metadata_chunks(encode_png(Image.new("I;16", (3, 3)))) == []
    assert png_metadata_chunks(_png(Comment="x", Title="y")) == ["tEXt", "iTXt"]
    buf, exif = io.BytesIO(), Image.Exif()
    exif[0x010E] = "patient"  # ImageDescription
    Image.new("L", (4, 4)).save(buf, format="PNG", exif=exif)
    assert png_metadata_chunks(buf.getvalue()) == ["eXIf"]
    with pytest.raises(RadsynthError, match="not a PNG"):
        png_metadata_chunks(b"GIF89a")


def test_sensitive_tokens_match_whole_tokens_only() -> None:
    sources = [("NORMAL/IM-0115-0001.jpeg", "patient_0012"), ("a/12.png", "12")]
    tokens = SensitiveTokens.build(sources, extra=["/data/kermany"], min_chars=6)
    assert "12" not in tokens.tokens and "12.png" in tokens.tokens  # short id dropped
    assert tokens.find("seed 12, step 0012, patient_00123") == []
    assert tokens.find("from IM-0115-0001 ") == ["im-0115-0001"]
    assert tokens.find("see normal/im-0115-0001.jpeg.") == ["normal/im-0115-0001.jpeg"]
    assert tokens.find("renamed to IM-0115-0001.png") == ["im-0115-0001"]
    assert tokens.find("patient_0012;x") == ["patient_0012"]
    assert tokens.find("/data/kermany/NORMAL") == []  # a folder below the root is not the root
    assert tokens.find("xIM-0115-0001") == []


def test_review_decisions_and_checkpoint_choice(tmp_path: Path) -> None:
    (tmp_path / "screen").mkdir()
    (tmp_path / "screen" / "screen.csv").write_text(
        "image,group,score,flagged\na/1.png,a,1.0,0\na/2.png,a,9.0,1\nb/1.png,b,9.0,1\n"
    )
    screened = {d.image: d for d in read_screen(tmp_path / "screen")}
    reviewed = [replace(screened["a/2.png"], final="keep", decided_by="x@y.org"),
                replace(screened["a/1.png"], final="exclude", decided_by="z")]  # fmt: skip
    write_screen_decisions(tmp_path / "review", reviewed)
    chosen = decide(tmp_path / "screen", tmp_path / "review")
    assert [f.image for f in chosen.released] == ["a/2.png"]
    assert chosen.flagged == {"a/1.png": False, "a/2.png": True, "b/1.png": True}
    assert chosen.reviewers == ["x@y.org", "z"]
    total = chosen.table()[-1]
    assert (total["generated"], total["overridden_by_reviewer"], total["kept"]) == (3, 2, 1)
    only_b = decide(tmp_path / "screen", None, keep="all", checkpoints=["b"])
    assert [f.image for f in only_b.released] == ["b/1.png"]
    with pytest.raises(RadsynthError, match="were not screened"):
        decide(tmp_path / "screen", None, checkpoints=["c"])
    assert pseudonyms(["x@y.org", "auto", "z", "x@y.org"]) == {
        "auto": "auto", "x@y.org": "reviewer-1", "z": "reviewer-2"}  # fmt: skip


def test_parts_can_be_named_without_a_run(tmp_path: Path) -> None:
    with pytest.raises(RadsynthError, match="--images DIR --screen DIR --audit DIR --ingest"):
        do_release(None, tmp_path / "out")


def test_provenance_drops_file_names_and_local_paths() -> None:
    meta = {"image": "000012.png", "seed": 12, "checkpoint": "/home/alice/run/step-0000004",
            "win": "C:\\runs\\x", "sampler": "dpmpp", "device": "cuda:0"}  # fmt: skip
    assert public_sidecar(meta) == {"seed": 12, "sampler": "dpmpp", "device": "cuda:0"}


def test_conditional_columns_appear_only_when_a_sidecar_has_them() -> None:
    plain = metadata_columns([{"seed": 1}, {"seed": 2, "class": ""}])
    assert plain[0] == "file_name" and "class" not in plain and "guidance" not in plain
    conditional = metadata_columns([{"seed": 1}, {"seed": 2, "class": "PNEUMONIA", "guidance": 2}])
    assert conditional.index("guidance") == conditional.index("steps") + 1
    assert conditional.index("class") == conditional.index("guidance") + 1
