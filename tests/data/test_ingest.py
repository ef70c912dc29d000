"""The ingest stage on real radiographs: paediatric chest PNGs and pydicom-data CR DICOMs."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radsynth.cli import main
from radsynth.data.dicom import read_dicom
from radsynth.data.imageio import read_image
from radsynth.data.ingest import IngestConfig, ingest
from radsynth.errors import RadsynthError

MANIFEST_COLUMNS = [
    "image", "split", "source_path", "source_sha256", "pixel_sha256", "orig_width",
    "orig_height", "bit_depth", "inverted", "polarity_confidence", "group",
]  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def cxr_src(cxr_dir: Path, tmp_path: Path) -> Path:
    """24 real chest films: 12 normal, 12 pneumonia from 3 patients with several images each."""
    src = tmp_path / "src"
    normal = sorted((cxr_dir / "train" / "NORMAL").glob("*.png"))[:12]
    pneumonia = [
        p
        for pid in ("124", "1320", "1411")
        for p in sorted((cxr_dir / "train" / "PNEUMONIA").glob(f"person{pid}_*.png"))[:4]
    ]
    for p in normal + pneumonia:
        dest = src / p.parent.name / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dest)
    return src


def run_ingest(src: Path, out: Path, **kw) -> list[dict[str, str]]:
    ingest(IngestConfig(src=src, out=out, **kw))
    return read_csv(out / "manifest.csv")


def test_ingest_real_pngs_layout_and_no_phi(cxr_src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rows = run_ingest(cxr_src, out, size_px=32)
    assert len(rows) == 24
    assert list(rows[0])[: len(MANIFEST_COLUMNS)] == MANIFEST_COLUMNS
    assert {r["split"] for r in rows} == {"train", "val"}
    assert sum(r["split"] == "val" for r in rows) == round(0.15 * 24)
    for r in rows:
        assert r["image"] == f"{r['split']}/{Path(r['image']).name}"
        img = Image.open(out / r["image"])
        assert img.size == (32, 32) and img.mode == "L"
        assert not {k for k in img.info if k not in ("dpi",)}, "no text chunks in output PNGs"
        assert r["inverted"] == "0", "real chest films are positives"
    # Output names are numbers; only the manifest links back to the sources.
    names = {p.name for p in out.rglob("*.png")}
    assert names == {f"{i:06d}.png" for i in range(24)}
    assert {Path(r["source_path"]).parent.name for r in rows} == {"NORMAL", "PNEUMONIA"}
    assert (out / "rejected.csv").read_text() == "source_path,reason\n"
    assert (out / "manifest.json").is_file() and (out / "config.json").is_file()


def test_group_by_keeps_patients_on_one_side(cxr_src: Path, tmp_path: Path) -> None:
    rows = run_ingest(cxr_src, tmp_path / "out", size_px=16, val_fraction=0.3, seed=3,
                      group_by=r"person(\d+)")  # fmt: skip
    sides: dict[str, set[str]] = {}
    for r in rows:
        if r["group"]:
            sides.setdefault(r["group"], set()).add(r["split"])
    assert set(sides) == {"124", "1320", "1411"}
    assert all(len(s) == 1 for s in sides.values())
    assert {r["split"] for r in rows} == {"train", "val"}


def test_ingest_is_deterministic(cxr_src: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    run_ingest(cxr_src, a, size_px=16, seed=7)
    run_ingest(cxr_src, b, size_px=16, seed=7)
    assert (a / "manifest.csv").read_bytes() == (b / "manifest.csv").read_bytes()
    for p in sorted(a.rglob("*.png")):
        assert p.read_bytes() == (b / p.relative_to(a)).read_bytes()


def test_duplicates_and_corrupt_files_are_rejected(cxr_src: Path, tmp_path: Path) -> None:
    first = sorted((cxr_src / "NORMAL").glob("*.png"))[0]
    shutil.copy(first, cxr_src / "copy_of_first.png")
    (cxr_src / "broken.png").write_bytes(first.read_bytes()[:200])  # truncated PNG
    (cxr_src / "notes.txt").write_text("not an image")
    rows = run_ingest(cxr_src, tmp_path / "out", size_px=16)
    assert len(rows) == 24
    rejected = {r["source_path"]: r["reason"] for r in read_csv(tmp_path / "out" / "rejected.csv")}
    assert rejected["copy_of_first.png"] == f"duplicate of NORMAL/{first.name}"
    assert "broken.png" in rejected and "notes.txt" in rejected
    assert str(tmp_path) not in "".join(rejected.values())
    assert len({r["pixel_sha256"] for r in rows}) == 24


def test_real_cr_dicoms(tmp_path: Path) -> None:
    """RG1/RG3 are MONOCHROME1 CR films with a window; RG3_J2KR is RG3 in lossless JPEG 2000."""
    data = pytest.importorskip("pydicom.data")
    src = tmp_path / "dicom"
    src.mkdir()
    for name in ("RG1_UNCR.dcm", "RG3_UNCR.dcm", "RG3_J2KR.dcm"):
        shutil.copy(data.get_testdata_file(name), src / name)
    rows = run_ingest(src, tmp_path / "out", size_px=64)
    by_src = {r["source_path"]: r for r in rows}
    rejected = read_csv(tmp_path / "out" / "rejected.csv")
    decodable = importlib.util.find_spec("openjpeg") is not None  # pylibjpeg-openjpeg
    if decodable:  # sorted order reads RG3_J2KR first, so the uncompressed copy is the dupe
        assert rejected == [{"source_path": "RG3_UNCR.dcm", "reason": "duplicate of RG3_J2KR.dcm"}]
        assert set(by_src) == {"RG1_UNCR.dcm", "RG3_J2KR.dcm"}
    else:
        assert [r["source_path"] for r in rejected] == ["RG3_J2KR.dcm"]
        assert set(by_src) == {"RG1_UNCR.dcm", "RG3_UNCR.dcm"}
    for r in rows:
        assert r["format"] == "dicom" and r["monochrome1"] == "1"
        assert r["inverted"] == "0", "after the MONOCHROME1 flip the films are positives"
    assert by_src["RG1_UNCR.dcm"]["bit_depth"] == "15"
    assert (by_src["RG1_UNCR.dcm"]["orig_width"], by_src["RG1_UNCR.dcm"]["orig_height"]) == (
        "1841", "1955",
    )  # fmt: skip
    out_png = tmp_path / "out" / by_src["RG1_UNCR.dcm"]["image"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a plain PNG, no DICOM tags


def test_monochrome1_is_inverted_and_window_applied() -> None:
    data = pytest.importorskip("pydicom.data")
    import pydicom

    path = data.get_testdata_file("RG3_UNCR.dcm")
    ds = pydicom.dcmread(path)
    raw = ds.pixel_array.astype(np.float64)
    img = read_dicom(Path(path))
    assert img.monochrome1 and img.voi == "window" and img.bit_depth == 10
    # MONOCHROME1: a larger stored value is displayed darker.
    assert np.corrcoef(raw.ravel()[::97], img.pixels.ravel()[::97])[0, 1] < -0.9
    # Reference: the linear VOI window of PS3.3 C.11.2.1.2.1, then the MONOCHROME1 flip.
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    y = np.clip((raw - (c - 0.5)) / (w - 1) + 0.5, 0.0, 1.0)
    np.testing.assert_allclose(img.pixels, 1.0 - y, atol=2e-3)


def test_sixteen_bit_precision_is_kept(tmp_path: Path) -> None:
    """Values 1 LSB apart at 16 bits survive reading, and sub-8-bit contrast survives resampling."""
    src = tmp_path / "src"
    src.mkdir()
    yy, xx = np.mgrid[:64, :64]
    tent = 32 - np.abs(xx - 31.5)  # brighter centre column: a positive film for the detector
    exact = (30000 + 40 * tent + yy).astype(np.uint16)
    Image.fromarray(exact).save(src / "a.png")
    Image.fromarray(exact + 1).save(src / "b.tif")  # 1 LSB brighter: not a duplicate
    assert read_image(src / "a.png")[1] == 16
    out = tmp_path / "out"
    rows = run_ingest(src, out, size_px=64, bits=16, val_fraction=0.0)
    assert [r["bit_depth"] for r in rows] == ["16", "16"]
    assert [r["inverted"] for r in rows] == ["0", "0"]
    a = np.asarray(Image.open(out / rows[0]["image"])).astype(np.int64)
    b = np.asarray(Image.open(out / rows[1]["image"])).astype(np.int64)
    assert np.array_equal(a, exact) and np.array_equal(b, exact + 1)
    # A 128 px image whose whole range is 100/65535 (less than one 8-bit step) downsampled 2x.
    fine = (30000 + (np.mgrid[:128, :128][1] * 100 // 128)).astype(np.uint16)
    fine[:, :32] -= 3000
    fine[:, 96:] -= 3000
    Image.fromarray(fine).save(tmp_path / "fine.png")
    src2 = tmp_path / "src2"
    src2.mkdir()
    shutil.copy(tmp_path / "fine.png", src2)
    row = run_ingest(src2, tmp_path / "out2", size_px=64, bits=16, val_fraction=0.0)[0]
    small = np.asarray(Image.open(tmp_path / "out2" / row["image"])).astype(np.int64)
    centre = small[:, 20:44]
    assert len(np.unique(centre[5])) > 10, "sub-8-bit gradations survive"


def test_bad_input_gives_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["ingest", str(empty), str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no files found" in err
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_bytes(b"garbage")
    assert main(["ingest", str(junk), str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no usable images" in err
    assert not (tmp_path / "o2").exists(), "a failed run leaves no output folder behind"
    assert main(["ingest", str(tmp_path / "missing"), str(tmp_path / "o3")]) == 2
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects a bad choice, one line
        main(["ingest", str(junk), str(tmp_path / "o4"), "--resize", "crop"])
    assert exit_info.value.code == 2
    assert main(["ingest", str(junk), str(tmp_path / "o5"), "--group-by", "("]) == 2
    with pytest.raises(RadsynthError, match="val-fraction"):
        ingest(IngestConfig(src=junk, out=tmp_path / "o6", val_fraction=1.5))


def test_existing_output_is_refused(cxr_src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(RadsynthError, match="already holds"):
        ingest(IngestConfig(src=cxr_src, out=out, size_px=16))
    assert (out / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_cli_smoke(cxr_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    code = main(["ingest", str(cxr_src), str(out), "--size-px", "16", "--resize", "stretch",
                 "--group-by", r"person(\d+)", "--seed", "1"])  # fmt: skip
    assert code == 0
    assert "ingested 24 images" in capsys.readouterr().out
    assert len(read_csv(out / "manifest.csv")) == 24


def test_jpeg_and_8bit_tiff_and_voi_lut_dicom(cxr_dir: Path, tmp_path: Path) -> None:
    data = pytest.importorskip("pydicom.data")
    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    film = Image.open(sorted((cxr_dir / "train" / "NORMAL").glob("*.png"))[0])
    film.save(src / "deep" / "a.jpg", quality=90)
    film.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(src / "deep" / "er" / "b.tiff")
    shutil.copy(data.get_testdata_file("vlut_04.dcm"), src / "c")  # no extension: sniffed
    # vlut_04 is a secondary capture (Modality OT): accepted only when named.
    rows = run_ingest(src, tmp_path / "out0", size_px=32, val_fraction=0.0)
    assert [r["source_path"] for r in rows] == ["deep/a.jpg", "deep/er/b.tiff"]
    assert read_csv(tmp_path / "out0" / "rejected.csv")[0]["reason"].startswith("modality OT:")
    rows = run_ingest(src, tmp_path / "out", size_px=32, val_fraction=0.0, allow_modality=("ot",))
    got = {r["source_path"]: (r["format"], r["bit_depth"]) for r in rows}
    assert got == {"deep/a.jpg": ("jpeg", "8"), "deep/er/b.tiff": ("tiff", "8")}
    # vlut_04 is an SMPTE test pattern: the shipped rotation network calls it turned by 180
    # degrees, and a turn in a folder too small for a collection model goes to review (issue 27).
    (review,) = read_csv(tmp_path / "out" / "review.csv")
    assert review["source_path"] == "c" and review["polarity_source"] == "header"
    assert "turn needs the shipped and the collection model" in review["reason"]
    assert read_dicom(Path(data.get_testdata_file("vlut_04.dcm"))).voi == "lut"
