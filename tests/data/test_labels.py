"""Labels at ingest (--labels, --label-from-folder) and the stratified patient-level test split."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from radsynth.cli import main
from radsynth.data.ingest import IngestConfig, ingest
from radsynth.data.leaks import read_groups, shared_patients
from radsynth.data.splits import split_stratified
from radsynth.errors import RadsynthError

#: The paediatric set's patient key (examples/cxr-pneumonia.yaml): person<ID> or IM-<ID>.
CXR_GROUP_BY = r"(person\d+|IM-\d+)"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def labelled_src(cxr_dir: Path, tmp_path: Path) -> Path:
    """30 real films in NORMAL/ and PNEUMONIA/: 15 normal, 15 pneumonia from 5 patients."""
    src = tmp_path / "src"
    normal = sorted((cxr_dir / "train" / "NORMAL").glob("*.png"))[:15]
    pids = ("124", "1320", "1411", "1000", "1265")
    pneumonia = [
        p for pid in pids for p in sorted((cxr_dir / "train" / "PNEUMONIA").glob(f"person{pid}_*"))
    ][:15]
    for p in normal + pneumonia:
        dest = src / p.parent.name / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dest)
    return src


def test_stratified_split_keeps_label_mix_and_patients() -> None:
    groups = [f"p{i // 2}" for i in range(200)] + [""] * 100
    strata = ["A" if i % 4 < 2 else "B" for i in range(200)] + ["B"] * 100
    splits = split_stratified(groups, strata, 0.1, 0.2, seed=0)
    assert splits == split_stratified(groups, strata, 0.1, 0.2, seed=0)
    assert splits != split_stratified(groups, strata, 0.1, 0.2, seed=1)
    for label, n in (("A", 100), ("B", 200)):
        members = [s for s, lab in zip(splits, strata, strict=True) if lab == label]
        assert abs(members.count("test") - 0.2 * n) <= 1
        assert abs(members.count("val") - 0.1 * n) <= 1
    for g in {g for g in groups if g}:
        assert len({s for s, h in zip(splits, groups, strict=True) if h == g}) == 1
    with pytest.raises(RadsynthError, match="sum below 1"):
        split_stratified(groups, strata, 0.5, 0.5, seed=0)


def test_label_from_folder_and_test_split(labelled_src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ingest(IngestConfig(src=labelled_src, out=out, size_px=16, label_from_folder=True,
                        test_fraction=0.3, group_by=CXR_GROUP_BY))  # fmt: skip
    rows = read_csv(out / "manifest.csv")
    assert list(rows[0])[-1] == "label"
    for r in rows:
        assert r["label"] == r["source_path"].split("/")[0]
        assert r["image"].startswith(r["split"] + "/")
    test = [r for r in rows if r["split"] == "test"]
    assert {r["label"] for r in test} == {"NORMAL", "PNEUMONIA"}
    assert sorted(p.name for p in (out / "test").iterdir()) == sorted(
        r["image"].split("/")[1] for r in test
    )
    groups = read_groups(out / "manifest.csv")
    assert not shared_patients(groups, "test", "train")
    assert not shared_patients(groups, "test", "val")


def test_labels_csv_by_file_name_and_path(labelled_src: Path, tmp_path: Path) -> None:
    files = sorted(p.relative_to(labelled_src).as_posix() for p in labelled_src.rglob("*.png"))
    table = tmp_path / "labels.csv"
    lines = ["file,finding,sex"] + [
        f"{Path(f).name if i % 2 else f},{f.split('/')[0]},{'FM'[i % 2]}"
        for i, f in enumerate(files)
    ]
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    ingest(IngestConfig(src=labelled_src, out=out, size_px=16, labels=table))
    rows = read_csv(out / "manifest.csv")
    assert list(rows[0])[-2:] == ["finding", "sex"]
    assert {(r["finding"], r["sex"]) for r in rows} >= {("NORMAL", "F"), ("PNEUMONIA", "M")}


def test_bad_labels_one_line_and_nothing_written(
    labelled_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    files = sorted(p.relative_to(labelled_src).as_posix() for p in labelled_src.rglob("*.png"))
    cases = {
        "single": ["file,finding"] + [f"{f},NORMAL" for f in files],
        "empty": ["file,finding"]
        + [
            f"{f},{'' if i == 3 else 'A' if i % 2 else 'B'}" for i, f in enumerate(files)
        ],  # fmt: skip
        "missing": ["file,finding"] + [f"{f},{'AB'[i % 2]}" for i, f in enumerate(files[:-2])],
        "nocolumn": ["file"] + files,
    }
    expect = {"single": "single class", "empty": "empty for 1 of", "missing": "empty for 2 of",
              "nocolumn": "key column and a label column"}  # fmt: skip
    for name, lines in cases.items():
        table = tmp_path / f"{name}.csv"
        table.write_text("\n".join(lines) + "\n")
        out = tmp_path / name
        code = main(["ingest", str(labelled_src), str(out), "--size-px", "16",
                     "--labels", str(table)])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and expect[name] in err, (name, err)
        assert not out.exists(), name
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in files:
        shutil.copy(labelled_src / f, flat / Path(f).name)
    code = main(["ingest", str(flat), str(tmp_path / "f"), "--label-from-folder"])
    assert code == 2 and "is empty for" in capsys.readouterr().err  # files directly in SRC


def test_cxr_patient_key_rule() -> None:
    regex = re.compile(CXR_GROUP_BY)
    key = lambda p: regex.search(p).group(1)  # noqa: E731
    assert key("train/PNEUMONIA/person1000_virus_1681.png") == "person1000"
    assert key("train/NORMAL/IM-0115-0001.png") == "IM-0115"
    assert key("test/NORMAL/NORMAL2-IM-0115-0001.png") == "IM-0115"
