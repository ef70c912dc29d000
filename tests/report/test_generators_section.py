"""The report's generator-by-generator section on a tiny run folder assembled from the real
record writers: generators.csv, Table S1, the audit's neighbours, utility.json and stats.json
(the stats stage run on a small export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radsynth.cli import main
from radsynth.fates.records import ImageFate, table_s1, write_table_s1
from radsynth.layout import RunLayout
from radsynth.records.audit import NeighbourRow, write_neighbours
from radsynth.records.generators import GeneratorRow, write_generators
from radsynth.report.build import render
from radsynth.report.generator_wins import Metric, summary, winner
from radsynth.report.generators import generators
from radsynth.utility.arms import ArmResult
from radsynth.utility.auroc import auc_ci, delong_paired
from radsynth.utility.data import LabelledImages
from radsynth.utility.outputs import write_outputs
from radsynth.utility.stage import UtilityConfig

GAN, DDPM = "gan/step-0000400", "ddpm/step-0000600"
CLASSES = ("NORMAL", "PNEUMONIA")


def _comparison(run: Path, gan_kid: float, ddpm_kid: float) -> None:
    rows = []
    for name, kid in ((GAN, gan_kid), (DDPM, ddpm_kid)):
        for cls, shift in (("all", 0.0), ("NORMAL", 0.001), ("PNEUMONIA", 0.002)):
            k = kid + shift
            rows.append(
                GeneratorRow(
                    name,
                    name.split("/")[0],
                    cls,
                    40,
                    60,
                    50,
                    100 * k,
                    k,
                    k * 0.8,
                    k * 1.2,
                    0.0,
                    0.7,
                    0.5,
                    0.9,
                    "pixels-area-16",
                )
            )
    write_generators(RunLayout(run).comparison_csv, rows)


def _fates(run: Path) -> None:
    fates = []
    for name, n_excluded in ((GAN, 3), (DDPM, 1)):
        for i in range(10):
            auto = "exclude" if i < n_excluded else "keep"
            fates.append(
                ImageFate(
                    f"{name}/{i:06d}.png",
                    name,
                    float(i),
                    auto,
                    auto,
                    "auto",
                    False,
                    auto == "keep",
                    auto == "exclude",
                )
            )
    write_table_s1(RunLayout(run).fates_table, table_s1(fates))


def _audit(run: Path) -> None:
    rows = [
        NeighbourRow(
            f"{name}/{i:06d}.png", f"train/{i % 4}.png", 0.9, 99.5 if flag else 10.0, flag, False
        )
        for name, copied in ((GAN, 1), (DDPM, 4))
        for i in range(10)
        for flag in (i < copied,)
    ]
    write_neighbours(RunLayout(run).audit_neighbours, rows)
    (RunLayout(run).audit / "calibration.json").write_text(json.dumps({"n_train": 20}))


def _utility(run: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    scores = {
        "real": y + rng.normal(0, 0.5, 40),
        GAN: y + rng.normal(0, 0.7, 40),
        DDPM: y + rng.normal(0, 1.5, 40),
    }
    results = []
    for arm, s in (("real", "real"), (f"synthetic:{GAN}", GAN), (f"synthetic:{DDPM}", DDPM)):
        ci = auc_ci(y, scores[s])
        result = ArmResult(
            arm,
            30 if s == "real" else 0,
            0 if s == "real" else 30,
            [ci.auc],
            ci,
            ci.low,
            ci.high,
            scores[s],
            10.0,
        )
        result.set = "" if s == "real" else s
        results.append(result)
    paired = {r.arm: delong_paired(y, r.scores, results[0].scores) for r in results[1:]}
    fid = [
        {"set": s, "class": c, "n": 10, "shows_class": k, "share": k / 10, "low": 0.1, "high": 0.9}
        for s, ks in ((GAN, (8, 7)), (DDPM, (6, 9)))
        for c, k in zip(CLASSES, ks, strict=True)
    ]
    out = RunLayout(run).utility
    out.mkdir(parents=True)
    cfg = UtilityConfig(data=run / "data", out=out, arch="resnet18", steps=1, seeds=1)
    test = LabelledImages(torch.zeros(40, 1, 2, 2), torch.tensor(y), [""] * 40, [""] * 40)
    write_outputs(cfg, CLASSES, results, paired, fid, {"test": test}, 1.0, 0)


def _stats(run: Path, tmp_path: Path) -> None:
    rows = []
    for r in ("r1", "r2", "r3"):
        for i in range(12):
            group = ("real", GAN, DDPM)[i % 3]
            label = CLASSES[i % 2]
            fooled = group == GAN and i % 2 == 0
            answer = "real" if group == "real" or fooled else "fake"
            rows.append(
                {
                    "rater": r,
                    "rater_kind": "human",
                    "item": f"s{i:02d}",
                    "image_id": f"{group}/{i:04d}.png",
                    "group": group,
                    "picked": "",
                    "rating": 3,
                    "answer": answer,
                    "label": label,
                    "finding": "yes" if i % 4 else "no",
                    "cue": "blurry ribs" if group == DDPM else "",
                }
            )
    export = tmp_path / "export.csv"
    header = list(rows[0])
    export.write_text(
        "\n".join([",".join(header), *(",".join(str(r[c]) for c in header) for r in rows)]) + "\n"
    )
    assert main(["stats", str(export), "--out", str(RunLayout(run).stats), "--n-boot", "100"]) == 0


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    _comparison(run, 0.01, 0.03)
    _fates(run)
    _audit(run)
    _utility(run)
    _stats(run, tmp_path)
    return run


def test_every_topic_has_a_table_and_the_wins_come_from_the_numbers(run: Path) -> None:
    sec = generators(run)
    assert sec is not None
    captions = [t["caption"] for t in sec.tables]
    for word in (
        "matched N",
        "Table S1",
        "memorization",
        "AUROC",
        "Conditional fidelity",
        "identification",
        "finding agreement",
        "Cues",
    ):
        assert any(word in c for c in captions), (word, captions)
    text = " ".join(sec.bullets)
    assert f"KID, all (lower is better): {GAN} 0.01000 vs {DDPM} 0.03000, by 0.02000" in text
    assert "the 95% CIs do not overlap" in text
    assert f"precision, all: {GAN} and {DDPM} tie at 0.700." in text  # a tie is nobody's win
    assert f"share excluded by the screen (lower is better): {DDPM} 0.100 vs {GAN} 0.300" in text
    assert f"share of synthetic images that copy a training image (lower is better): {GAN}" in text
    memo = next(t for t in sec.tables if "memorization" in t["caption"])
    assert memo["rows"][0][1].startswith("1 / 10") and memo["rows"][1][1].startswith("4 / 10")
    cues = next(t for t in sec.tables if "Cues" in t["caption"])
    assert cues["rows"] == [[DDPM, "blurry ribs (12)"]]
    assert sec.paragraphs[0].startswith("Which generator wins where, by how much: gan is ahead")
    html = render(run)
    assert "Generator by generator" in html and "blurry ribs (12)" in html

    _comparison(run, 0.05, 0.02)  # the other generator's images now score better
    text = " ".join(generators(run).bullets)
    assert f"KID, all (lower is better): {DDPM} 0.02000 vs {GAN} 0.05000, by 0.03000" in text


def test_an_unreadable_record_is_named_not_a_crash(run: Path) -> None:
    RunLayout(run).comparison_csv.write_text("set,generator\nx,y\n")
    sec = generators(run)
    assert any("left out" in b and "lacks column(s)" in b for b in sec.bullets), sec.bullets
    assert not any("matched N" in t["caption"] for t in sec.tables)


def test_one_generator_gets_no_section(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rows = [
        GeneratorRow(s, "", "all", 10, 10, 10, 1.0, 0.1, 0.05, 0.2, 0.0, 0.5, 0.5, 1.0, "x")
        for s in ("step-0000400", "step-0000600")
    ]
    write_generators(RunLayout(run).comparison_csv, rows)
    assert generators(run) is None
    assert "Generator by generator" not in render(run)


def test_a_winner_needs_two_sets_and_says_whether_cis_overlap() -> None:
    m = Metric("AUROC", True)
    m.add(GAN, 0.8, 0.7, 0.9)
    assert winner(m) is None
    m.add(DDPM, 0.75, 0.65, 0.85)
    w = winner(m)
    assert (w.best, w.runner_up, w.separated) == (GAN, DDPM, False)
    assert w.margin == pytest.approx(0.05)
    paragraph, lines = summary([m])
    assert "gan is ahead on 1 of 1 comparisons" in paragraph and "overlap" in lines[0]
