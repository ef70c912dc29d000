"""The GPU suite (``radsynth bench gpu``): its --smoke mode runs every GPU code path on the
CPU."""

from __future__ import annotations

import json
from pathlib import Path

from radsynth.cli import main


def test_gpu_suite_smoke_runs_every_measurement_on_the_cpu(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "gpu", "--smoke", "--out", str(out)]) == 0
    record = json.loads((out / "bench-gpu.json").read_text())
    results = record["results"]
    assert [r.get("error") for r in results] == [None] * len(results)
    train = [r for r in results if r["benchmark"] == "train"]
    sample = [r for r in results if r["benchmark"] == "sample"]
    # Train without and with compile; a sampling batch sweep, then the best batch both ways.
    assert [r["compile"] for r in train] == [False, True]
    assert {r["compile"] for r in sample[-2:]} == {False, True}
    for r in train + sample:
        assert r["precision"] == "bf16" and r["channels_last"] is True
        assert r["images_per_s"] > 0 and "CPU" in r["device"]
    assert all(r["minutes_for_27000"] > 0 for r in sample)
    # The GAN (fp32, eager): one training and one sampling figure.
    gan = [r for r in results if r["benchmark"].endswith("-gan")]
    assert [r["benchmark"] for r in gan] == ["train-gan", "sample-gan"]
    assert all(r["images_per_s"] > 0 and r["precision"] == "fp32" for r in gan)
    assert len(results) == len(train) + len(sample) + 2
    table = (out / "bench-gpu.md").read_text()
    assert table.count("\n| train ") == 2 and table.count("\n| sample ") == len(sample)
    assert table.count("\n| train-gan") == 1 and table.count("\n| sample-gan") == 1
    assert "0 failed" in capsys.readouterr().out
