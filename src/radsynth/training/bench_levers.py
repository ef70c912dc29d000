"""``radsynth bench train --levers``: each speed lever of training measured on its own.

The baseline is the training step as it ran before the levers: eager, float32, contiguous
layout, torch's default Adam, every batch copied from the host, SDPA attention. Each row then
changes one thing, runs the same seeded steps on the same batches, and reports images/s, MFU
and how far the trained network's output on a fixed probe batch (and the mean loss) moved from
the baseline's: a lever that keeps the numbers (data on the device: exactly 0) only has to pay
in images/s; one that changes them (bf16, compile's fused kernels) shows by how much. A larger
batch trains on other images at another learning rate, so its difference is not comparable and
is left out ("n/a"). "Kept only if it pays" is read off this table.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from radsynth.config import build_config
from radsynth.hardware.figures import emit_figures
from radsynth.hardware.threads import cpu_threads
from radsynth.stage import StageResult
from radsynth.training.bench_measure import BenchTrainConfig, measure_train
from radsynth.training.config import TrainConfig

#: The baseline: the step before the levers (eager fp32, host copies, torch's default Adam).
BASELINE = {
    "compile": "off",
    "bf16": "off",
    "channels_last": "off",
    "optimizer_impl": "default",
    "data_on_device": "off",
    "attention": "sdpa",
}

#: One row per lever: the fields it changes from the baseline. ``batch_x4`` multiplies the
#: preset's batch by 4, with the learning rate by the preset's rule (--lr-scale).
LEVERS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "compile": {"compile": "on", "compile_mode": "default"},
    "compile max-autotune": {"compile": "on", "compile_mode": "max-autotune"},
    "fused adam": {"optimizer_impl": "fused"},
    "data on device": {"data_on_device": "on"},
    "math attention (no sdpa)": {"attention": "math"},
    "bf16": {"bf16": "on"},
    "channels-last": {"channels_last": "on"},
    "batch x4": {"batch_x4": True},
}


def lever_config(cfg: BenchTrainConfig, lever: str) -> BenchTrainConfig:
    """The benchmark config of one row: the baseline with the lever's fields changed."""
    changes = dict(LEVERS[lever])
    if changes.pop("batch_x4", False):
        changes["batch_size"] = 4 * (cfg.batch_size or preset_batch(cfg.preset))
    return dataclasses.replace(cfg, **(BASELINE | changes), levers=False, out=None)


def preset_batch(preset: str) -> int:
    """The training preset's own batch size."""
    return build_config(TrainConfig, {"data": ".", "out": ".", "preset": preset}).batch_size


def compare(row: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The row's figures without its probe, with its differences from the baseline (None for
    a row on other batches), and its speed-up in images/s."""
    probe = row.pop("probe")
    same_batches = row["batch_size"] == base["batch_size"]
    diff = float((probe - base["probe"]).abs().max()) if same_batches else None
    loss = abs(row["mean_loss"] - base["mean_loss"]) if same_batches else None
    speedup = row["images_per_s"] / base["images_per_s"]
    return {**row, "probe_max_abs_diff": diff, "loss_abs_diff": loss, "speedup": speedup}


def lever_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| lever | batch | images/s | speed-up | MFU | peak GiB | max-abs output diff | "
        "loss diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mfu = f"{100 * r['mfu']:.2f}%" if r.get("mfu") is not None else "n/a"
        diff = "n/a" if r["probe_max_abs_diff"] is None else f"{r['probe_max_abs_diff']:.2e}"
        loss = "n/a" if r["loss_abs_diff"] is None else f"{r['loss_abs_diff']:.2e}"
        lines.append(
            f"| {r['lever']} | {r['batch_size']} | {r['images_per_s']:.2f} | "
            f"{r['speedup']:.2f}x | {mfu} | {r['peak_memory_gib']:.2f} | {diff} | {loss} |"
        )
    return "\n".join(lines)


def measure_levers(cfg: BenchTrainConfig) -> list[dict[str, Any]]:
    """One measured row per lever of :data:`LEVERS`, compared with the baseline (first)."""
    rows: list[dict[str, Any]] = []
    base: dict[str, Any] = {}
    for lever in LEVERS:
        row = {"lever": lever, **measure_train(lever_config(cfg, lever))}
        if lever == "baseline":
            base = {**row, "probe": row["probe"].clone()}
        rows.append(compare(row, base))
        print(lever_table(rows[-1:]).splitlines()[-1], flush=True)  # kept if a later row hangs
    return rows


def bench_levers(cfg: BenchTrainConfig) -> StageResult:
    """Print the lever table (and the rows as JSON, to ``cfg.out`` when given)."""
    with cpu_threads(cfg.cpu_threads):
        rows = measure_levers(cfg)
    emit_figures({"benchmark": "train-levers", "preset": cfg.preset, "rows": rows}, cfg.out)
    print(lever_table(rows))
    best = max(rows, key=lambda r: r["speedup"])
    summary = (
        f"{cfg.preset}: {len(rows)} rows on {rows[0]['device']}; fastest {best['lever']!r} at "
        f"{best['images_per_s']:.1f} images/s ({best['speedup']:.2f}x the baseline)"
    )
    return StageResult(out=cfg.out or Path("."), summary=summary)
