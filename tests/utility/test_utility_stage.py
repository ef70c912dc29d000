"""`radsynth utility` end to end on a tiny two-class task: bright vs dark discs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from fake_runs import make_disc_ingest

from radsynth.cli import main
from radsynth.report.build import render


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fake_samples(folder: Path, source: Path) -> Path:
    """'Synthetic' images: fresh discs with a sidecar naming their class, as sample writes."""
    disc = make_disc_ingest(source, {"train": 25}, size_px=16, seed=5)
    (folder / "meta").mkdir(parents=True)
    with open(disc / "manifest.csv", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            shutil.copy(disc / row["image"], folder / f"{i:06d}.png")
            meta = {"image": f"{i:06d}.png", "seed": i, "label": row["label"], "guidance": 1.0}
            (folder / "meta" / f"{i:06d}.json").write_text(json.dumps(meta))
    return folder


FAST = ["--arch", "resnet18", "--steps", "20", "--batch", "8", "--lr", "0.003", "--seeds", "2",
        "--n-boot", "200", "--ratios", "0.5"]  # fmt: skip


def test_utility_on_bright_and_dark_discs(tmp_path: Path, capsys) -> None:
    data = make_disc_ingest(tmp_path / "data", {"train": 24, "val": 4, "test": 40}, size_px=16)
    syn = fake_samples(tmp_path / "syn", tmp_path / "syn-src")
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "neighbours.csv").write_text(
        "synthetic,train,similarity,percentile,flagged\n000000.png,x.png,0.99,99.9,1\n"
        "000001.png,y.png,0.5,10,0\n"
    )
    out = tmp_path / "utility"
    assert main(["utility", str(data), str(out), "--synthetic", str(syn), "--audit", str(audit),
                 *FAST]) == 0  # fmt: skip
    with open(out / "utility.csv", newline="") as fh:
        rows = {r["arm"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["real", "synthetic", "mix-0.5x"]
    assert float(rows["real"]["auroc"]) > 0.95
    assert rows["synthetic"]["n_synthetic"] == "24"  # one flagged copy left out
    assert rows["mix-0.5x"]["n_synthetic"] == "12" and rows["mix-0.5x"]["n_real"] == "24"
    assert len(rows["real"]["seed_aurocs"].split(";")) == 2
    record = json.loads((out / "utility.json").read_text())
    assert [f["class"] for f in record["conditional_fidelity"]] == ["bright", "dark"]
    assert record["synthetic_left_out_as_copies"] == 1
    assert (out / "roc.png").stat().st_size > 0 and (out / "auroc_by_arm.png").is_file()
    html = render(tmp_path)  # the run folder holding utility/
    assert "Downstream utility" in html and "mix-0.5x" in html


def test_utility_refusals_are_one_line(tmp_path: Path, capsys) -> None:
    data = make_disc_ingest(tmp_path / "data", {"train": 8, "val": 2, "test": 6}, size_px=16)
    leaky = make_disc_ingest(tmp_path / "leaky", {"train": 8, "test": 6}, size_px=16)
    rows = (leaky / "manifest.csv").read_text().splitlines()
    rows[-1] = rows[-1].replace(rows[-1].split(",")[2], "p0")  # a test patient also in train
    (leaky / "manifest.csv").write_text("\n".join(rows) + "\n")
    copied = make_disc_ingest(tmp_path / "copied", {"train": 8, "test": 6}, size_px=16)
    first_test = sorted((copied / "test").iterdir())[0]
    shutil.copy(copied / "train" / "000000.png", first_test)  # same pixels, another patient id
    other = make_disc_ingest(tmp_path / "other", {"test": 6}, size_px=16)
    (other / "manifest.csv").write_text(
        (other / "manifest.csv").read_text().replace("bright", "grey")
    )
    cases = [
        ([str(leaky)], "shares 1 patient id(s) (p0)"),
        ([str(copied)], "1 image(s) with identical pixels"),
        ([str(data), "--label-column", "sex"], "no label column 'sex'"),
        ([str(data), "--external", str(other)], "classes of 'label' are not"),
        ([str(data), "--synthetic", str(tmp_path / "nothing")], "image folder not found"),
    ]
    for i, (args, message) in enumerate(cases):
        out = tmp_path / f"o{i}"
        assert main(["utility", args[0], str(out), *args[1:], *FAST]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (message, err)
        assert not out.exists()
