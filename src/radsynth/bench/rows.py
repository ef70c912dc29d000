"""One row of the GPU suite: measured, compared with its eager reference, written, summarised."""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Any

from radsynth.errors import RadsynthError
from radsynth.stage import atomic_write_text

log = logging.getLogger(__name__)


def _measure(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    from radsynth.config import build_config

    if kind == "train":
        from radsynth.training.bench import BenchTrainConfig as Config
        from radsynth.training.bench import measure_train as measure
    elif kind.endswith("-gan"):
        from radsynth.gan.bench import BenchGanConfig as Config
        from radsynth.gan.bench import measure_gan as measure
    else:
        from radsynth.sampling.bench import BenchSampleConfig as Config
        from radsynth.sampling.bench import measure_sample as measure
    return measure(build_config(Config, fields))


def max_abs_diff(probe: Any, reference: Any) -> float:
    """max |probe - reference| over the images both hold (the first ones: same seeds)."""
    k = min(len(probe), len(reference))
    return float((probe[:k].float() - reference[:k].float()).abs().max())


def _compare(result: dict[str, Any], probes: dict[str, Any]) -> None:
    """Replace the row's probe by its max-abs difference from the kind's first (eager) probe
    at the same batch (training) or of the same seeds (sampling), of the same network (a
    latent row's own shapes give it its own reference)."""
    probe = result.pop("probe", None)
    if probe is None:
        return
    kind = f"train {result['batch_size']}" if result["benchmark"] == "train" else "sample"
    key = f"{kind} {tuple(probe.shape[1:])} latent {result.get('latent_shape')}"
    reference = probes.setdefault(key, probe)
    result["max_abs_diff_vs_eager"] = max_abs_diff(probe, reference)


def _release_memory(error: Exception) -> None:
    if "out of memory" in str(error).lower():
        import torch

        torch.cuda.empty_cache()


def measure_row(
    record: dict[str, Any], probes: dict[str, Any], label: str, kind: str, fields: dict
) -> dict[str, Any]:
    """Measure one row and append it to ``record``; an error is recorded, not raised (a
    compile or CUDA failure must not lose the other rows), except a RadsynthError."""
    try:
        result = {"label": label, **_measure(kind, fields)}
        _compare(result, probes)
    except RadsynthError:
        raise
    except Exception as exc:
        log.warning("%s %s failed: %s", label, fields, exc)
        _release_memory(exc)
        result = {
            "label": label,
            "benchmark": kind,
            **fields,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=5),
        }
    record["results"].append(result)
    log.info("%s: %s", label, row_text(result))
    return result


def row_text(r: dict[str, Any]) -> str:
    """One row in words: images/s, MFU, the projected study time, the difference."""
    if "error" in r:
        return f"error: {r['error'][:200]}"
    if "skipped" in r:
        return f"skipped ({r['reason']})"
    mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
    text = f"{r['images_per_s']:.1f} images/s, MFU {mfu}"
    if "hours_for_study" in r:
        text += f", 1.28M images in {r['hours_for_study']:.2f} h"
    if "minutes_for_27000" in r:
        text += f", 27,000 images in {r['minutes_for_27000']:.1f} min"
    if "max_abs_diff_vs_eager" in r:
        text += f", max-abs diff vs eager {r['max_abs_diff_vs_eager']:.2e}"
    return text


def summary_lines(record: dict[str, Any]) -> list[str]:
    """The rows in words, then the time spent against the budget and the estimate."""
    lines = [f"{r['label']}: {row_text(r)}" for r in record["results"]]
    lines.append(
        f"{record.get('seconds', 0):.0f} s spent; budget {record['budget_s']:.0f} s, "
        f"estimate {record['estimate_s']} s"
    )
    return lines


def markdown_table(record: dict[str, Any]) -> str:
    """The rows as a Markdown table for docs/benchmarks.md."""
    lines = [
        "| row | device | batch | precision | compile | images/s | MFU | peak GiB "
        "| study time | max-abs diff vs eager |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["results"]:
        batch = r.get("batch_size", r.get("batch"))
        if "error" in r or "skipped" in r:
            why = f"failed: {r['error'][:80]}" if "error" in r else f"skipped: {r['reason']}"
            lines.append(f"| {r['label']} | | {batch} | | | {why} | | | | |")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
        mem = f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") is not None else "n/a"
        study = ""
        if "hours_for_study" in r:
            study = f"{r['hours_for_study']:.2f} h (1.28M images)"
        elif "minutes_for_27000" in r:
            study = f"{r['minutes_for_27000']:.1f} min (27,000 images)"
        diff = f"{r['max_abs_diff_vs_eager']:.2e}" if "max_abs_diff_vs_eager" in r else ""
        compiled = r.get("compile_mode") or ("on" if r.get("compile") else "off")
        lines.append(
            f"| {r['label']} | {r['device']} | {batch} | {r['precision']} | {compiled} | "
            f"{r['images_per_s']:.1f} | {mfu} | {mem} | {study} | {diff} |"
        )
    return "\n".join(lines) + "\n"


def write_record(record: dict[str, Any], out: Path) -> None:
    """Write ``bench-gpu.json`` and ``bench-gpu.md`` into ``out`` (atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench-gpu.json", json.dumps(record, indent=2) + "\n")
    header = f"Measured {record['started']} (host CPU {record['host_cpu']}).\n\n"
    atomic_write_text(out / "bench-gpu.md", header + markdown_table(record))
