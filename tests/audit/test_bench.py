"""Smoke tests of ``radsynth bench audit`` and ``bench audit-scale`` on a handful of phantoms."""

from __future__ import annotations

import json

from radsynth.cli import main


def test_bench_audit_on_phantoms(tmp_path):
    out = tmp_path / "bench"
    args = ["bench", "audit", "--out", str(out), "--source", "phantoms", "--n-train", "12",
            "--n-val", "20", "--n-novel", "6", "--per-transform", "1", "--flag-percentile", "95",
            "--features", "pixels", "copy"]  # fmt: skip
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["features"]) == {"pixels", "copy"}
    copy = res["features"]["copy"]
    assert set(copy["recall"]) == set(res["strengths"])
    assert copy["recall"]["exact"]["count"] == 1 and copy["recall"]["mirror"]["count"] == 1
    assert copy["false_flags"]["n"] == 6
    table = (out / "table.md").read_text()
    assert "| mirror |" in table and "false flags" in table
    assert main(args) == 2  # the output folder is not overwritten


def test_bench_audit_scale_smoke(tmp_path):
    out = tmp_path / "scale"
    args = ["bench", "audit-scale", "--out", str(out), "--n-train", "10", "--n-queries", "6",
            "--target-queries", "60", "--chunk", "4"]  # fmt: skip
    assert main(args) == 0
    fig = json.loads((out / "results.json").read_text())
    assert fig["n_train"] == 10 and fig["n_queries"] == 6 and fig["peak_rss_mb"] > 0
