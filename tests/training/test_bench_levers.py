"""``radsynth bench train --levers``: one row per speed lever against the eager fp32 baseline."""

from __future__ import annotations

import json

from radsynth.cli import main
from radsynth.training.bench_levers import LEVERS


def test_levers_table_has_one_row_per_lever_and_honest_differences(tmp_path, capsys):
    out = tmp_path / "levers.json"
    argv = ["bench", "train", "--levers", "--preset", "tiny", "--steps", "2",
            "--warmup-steps", "1", "--compile-backend", "eager", "--device", "cpu",
            "--cpu-threads", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    rows = {r["lever"]: r for r in json.loads(out.read_text())["rows"]}
    assert list(rows) == list(LEVERS)
    base = rows["baseline"]
    assert base["probe_max_abs_diff"] == 0 and base["speedup"] == 1
    assert base["compile"] is False and base["data_on_device"] is False
    assert base["precision"] == "fp32" and base["optimizer"] == "default"
    # Data on the device draws the very same batches: the same trained network, bit for bit.
    assert rows["data on device"]["data_on_device"] is True
    assert rows["data on device"]["probe_max_abs_diff"] == 0
    # Kernels that reorder float sums move the output a little, never a lot.
    for lever in ("fused adam", "math attention (no sdpa)", "channels-last"):
        assert 0 <= rows[lever]["probe_max_abs_diff"] < 1e-3, lever
    assert rows["fused adam"]["optimizer"] == "fused"
    assert rows["compile max-autotune"]["compile"] is True
    assert rows["bf16"]["precision"] == "bf16" and rows["bf16"]["probe_max_abs_diff"] > 0
    # A larger batch trains on other images: no difference is claimed, and its lr follows sqrt.
    big = rows["batch x4"]
    assert big["batch_size"] == 4 * base["batch_size"] and big["probe_max_abs_diff"] is None
    assert big["lr"] == 2 * base["lr"]
    for r in rows.values():
        assert r["images_per_s"] > 0 and r["peak_memory_source"] == "cpu_peak_rss"
    # Each row as it is measured, then the table: its header and one line per lever.
    assert sum(line.startswith("| ") for line in text.splitlines()) == 2 * len(LEVERS) + 1
