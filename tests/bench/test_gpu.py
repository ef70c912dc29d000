"""The GPU suite (``radsynth bench gpu``, ``make bench-gpu``): its --smoke mode runs every GPU
code path on the CPU, and its budget skips the rows that would not fit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from radsynth.bench.gpu import ESTIMATE_S, ROWS
from radsynth.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_gpu_suite_smoke_runs_every_row_on_the_cpu(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "gpu", "--smoke", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "estimated on one H100/H200" in text and "0 failed, 0 skipped" in text
    record = json.loads((out / "bench-gpu.json").read_text())
    rows = {r["label"]: r for r in record["results"]}
    assert [r.get("error") for r in rows.values()] == [None] * len(rows)
    assert len(rows) == len(ROWS)
    train = [r for r in rows.values() if r["benchmark"] == "train"]
    for r in train:  # the GPU branches, forced on: bf16 autocast and channels-last
        assert r["precision"] == "bf16" and r["channels_last"] is True
        assert r["batch_size"] * r["steps"] >= 4 and r["hours_for_study"] > 0
    assert rows["train eager"]["compile"] is False
    assert rows["train eager"]["max_abs_diff_vs_eager"] == 0
    before, after = rows["train before (compiled)"], rows["train after (cuda graphs)"]
    assert before["data_on_device"] is False and before["optimizer"] == "default"
    assert after["data_on_device"] is True and after["optimizer"] == "fused"
    assert after["compile_mode"] == "reduce-overhead"
    assert rows["train after (max-autotune)"]["compile_mode"] == "max-autotune"
    assert rows["+ data on device"]["max_abs_diff_vs_eager"] == 0  # the same batches exactly
    assert 0 < after["max_abs_diff_vs_eager"] < 1e-3  # fused Adam rounds a little differently
    eager, graphs = rows["sample eager"], rows["sample cuda graphs b3"]  # the largest batch
    assert graphs["compile_mode"] == "reduce-overhead" and graphs["batch"] == 3
    # Compiled sampling of a random tiny network in [-1, 1] (pixels): the same computation
    # within float reordering, which measured up to 0.013 on one CPU and less on another.
    assert graphs["max_abs_diff_vs_eager"] < 0.05 and eager["minutes_for_27000"] > 0
    assert [rows[k]["precision"] for k in ("gan train", "gan sample")] == ["fp32", "fp32"]
    for size in ("512", "1024"):  # smoke: the tiny UNet over the tiny autoencoder's latents
        train, sample = rows[f"latent-{size} train"], rows[f"latent-{size} sample"]
        assert train["latent_shape"] == [3, 8, 8] and train["train_flops_per_image"] > 0
        assert train["compile"] is False and train["images_per_s"] > 0
        assert sample["latent_shape"] == [3, 8, 8] and sample["image_size_px"] == 32
        assert sample["decode_flops_per_image"] > 0 and sample["minutes_for_27000"] > 0
        assert sample["max_abs_diff_vs_eager"] == 0  # its own reference, not the pixel rows'
    table = (out / "bench-gpu.md").read_text()
    assert table.count("\n| train ") == 4 and "| sample cuda graphs b3 |" in table


def test_rows_past_the_budget_are_recorded_as_skipped(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "gpu", "--smoke", "--budget-s", "0", "--out", str(out)]) == 0
    results = json.loads((out / "bench-gpu.json").read_text())["results"]
    assert len(results) == len(ROWS) and all(r["skipped"] == "budget" for r in results)
    assert "skipped: " in (out / "bench-gpu.md").read_text()
    assert f"{len(ROWS)} skipped for the budget" in capsys.readouterr().out


def test_make_bench_gpu_passes_its_arguments_to_the_suite() -> None:
    try:
        dry = subprocess.run(
            ["make", "-n", "bench-gpu", "BENCH_ARGS=--smoke", "OUT="],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"make is not usable here: {exc}")
    assert "-m radsynth.cli" in dry and "bench gpu --out bench-gpu --smoke" in dry


def test_the_budget_keeps_the_latent_rows_on_the_estimates() -> None:
    # The rows a 480 s suite runs if every row takes its H100/H200 estimate: the suite skips a
    # row that would end past the budget and goes on to the next.
    spent, kept = ESTIMATE_S["startup"], []
    for _, label, key in ROWS:
        if spent + ESTIMATE_S[key] <= 480:
            spent, kept = spent + ESTIMATE_S[key], [*kept, label]
    latent = [label for part, label, _ in ROWS if part == "latent"]
    assert len(latent) == 4 and set(latent) <= set(kept)
    assert {"train eager", "sample eager", "train after (cuda graphs)"} <= set(kept)
