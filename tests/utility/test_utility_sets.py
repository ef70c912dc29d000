"""`radsynth utility --synthetic-sets`: one real arm shared by several generators' synthetic sets,
each with its own synthetic-only and mixed arms, conditional fidelity and DeLong test vs real."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from fake_runs import make_disc_ingest
from test_utility_stage import FAST, fake_samples

from radsynth.cli import main
from radsynth.io import read_csv_rows
from radsynth.records.audit import NeighbourRow, write_neighbours
from radsynth.report.build import render

GAN, DDPM = "gan/step-0000400", "ddpm/step-0000600"


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _audit(folder: Path, flagged: str) -> Path:
    rows = [
        NeighbourRow(flagged, "x.png", 0.99, 99.9, True, False),
        NeighbourRow(f"{GAN}/000001.png", "y.png", 0.5, 10.0, False, False),
        NeighbourRow("old/step-0000100/000002.png", "z.png", 0.99, 99.9, True, False),
    ]
    write_neighbours(folder / "neighbours.csv", rows)
    return folder


def test_two_sets_share_the_real_arm_and_each_get_their_own_arms(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = make_disc_ingest(tmp_path / "data", {"train": 24, "val": 4, "test": 40}, size_px=16)
    gan = fake_samples(tmp_path / "gan", tmp_path / "gan-src")
    ddpm = fake_samples(tmp_path / "ddpm", tmp_path / "ddpm-src")
    meta = tmp_path / "ddpm-meta"
    (ddpm / "meta").rename(meta)  # the kept images' sidecars live elsewhere, as in a run
    audit = _audit(tmp_path / "audit", f"{GAN}/000000.png")  # only the GAN's first is a copy
    out = tmp_path / "run" / "utility"
    args = [
        "utility",
        str(data),
        str(out),
        "--synthetic-sets",
        f"{GAN}={gan}",
        f"{DDPM}={ddpm}",
        "--synthetic-sets-meta",
        f"{DDPM}={meta}",
        "--audit",
        str(audit),
        *FAST,
    ]
    with caplog.at_level(logging.WARNING):
        assert main(args) == 0
    assert "1 image(s) the audit flagged belong to no --synthetic-sets set" in caplog.text
    rows = {r["arm"]: r for r in read_csv_rows(out / "utility.csv", "utility", ("arm", "set"))}
    assert list(rows) == [
        "real",
        f"synthetic:{GAN}",
        f"mix-0.5x:{GAN}",
        f"synthetic:{DDPM}",
        f"mix-0.5x:{DDPM}",
    ]
    assert [r["set"] for r in rows.values()] == ["", GAN, GAN, DDPM, DDPM]
    assert rows[f"synthetic:{GAN}"]["n_synthetic"] == "24"  # its flagged copy left out
    assert rows[f"synthetic:{DDPM}"]["n_synthetic"] == "25"  # a same-named file of another set
    assert rows["real"]["p_vs_real"] == "" and all(
        rows[a]["p_vs_real"] != "" for a in list(rows)[1:]
    )
    record = json.loads((out / "utility.json").read_text())
    assert [(f["set"], f["class"]) for f in record["conditional_fidelity"]] == [
        (GAN, "bright"),
        (GAN, "dark"),
        (DDPM, "bright"),
        (DDPM, "dark"),
    ]
    assert record["sets"] == sorted([GAN, DDPM]) and record["synthetic_left_out_as_copies"] == 1
    html = render(tmp_path / "run")
    assert "Synthetic set" in html and f"mix-0.5x:{DDPM}" in html

    # A utility.json written before several sets (no "set" anywhere) still renders.
    for row in record["arms"] + record["conditional_fidelity"]:
        row.pop("set")
    record.pop("sets")
    (out / "utility.json").write_text(json.dumps(record))
    html = render(tmp_path / "run")
    assert "Downstream utility" in html and "Synthetic set" not in html


def test_set_refusals_are_one_line_and_write_nothing(tmp_path: Path, capsys) -> None:
    data = make_disc_ingest(tmp_path / "data", {"train": 8, "val": 2, "test": 6}, size_px=16)
    syn = fake_samples(tmp_path / "syn", tmp_path / "syn-src")
    cases = [
        (["--synthetic", str(syn), "--synthetic-sets", f"a={syn}"], "not both"),
        (["--synthetic-sets", f"{GAN}={syn}", f"{GAN}={syn}"], "given twice"),
        (
            ["--synthetic-sets", f"{GAN}={syn}", "--synthetic-sets-meta", f"x={syn}"],
            "'x' is not one of the sets",
        ),
        (["--synthetic-sets", f"{GAN}"], "wants NAME=DIR"),
        (["--synthetic-sets-meta", f"{GAN}={syn}"], "give those"),
        (["--synthetic-sets", f"{GAN}={tmp_path / 'none'}"], "image folder not found"),
    ]
    for i, (args, message) in enumerate(cases):
        out = tmp_path / f"o{i}"
        assert main(["utility", str(data), str(out), *args, *FAST]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (message, err)
        assert not out.exists()
