"""``radsynth bench gpu``: the GPU benchmark suite, in one command that fits a short GPU lease.

It measures, on the ``paper`` preset (256 px, 36M parameters):

1. training images/s, MFU and peak memory at the paper's batch size and a larger one, in bf16
   with channels_last, without and then with ``torch.compile``;
2. sampling images/s with DPM-Solver++(2M) x 20 steps over a few batch sizes (eager), then at
   the fastest batch without and with ``torch.compile``, with the projected time for the
   study's 27,000 images;
3. the GAN's (:mod:`radsynth.gan.bench`, ``paper`` preset, 256 px, fp32, eager) training and
   sampling images/s.

Each measurement is written as soon as it is taken (``bench-gpu.json``, ``bench-gpu.md``), and
a failing measurement is recorded with its error rather than ending the suite, so a lease that
runs out or a compile failure still leaves every figure taken so far. ``--smoke`` runs the same
code paths (bf16 autocast, channels_last, the compile wrapper with the ``eager`` backend, the
device queries) on the CPU with tiny shapes in seconds, so a typo in a GPU-only branch fails a
CPU test.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.hardware.device import cpu_model
from radsynth.hardware.flags import device_arg
from radsynth.stage import StageResult, atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchGpuConfig:
    """Run the GPU benchmark suite (train and sample, with and without torch.compile)."""

    out: Path = arg(Path("bench-gpu"), help="folder for bench-gpu.json and bench-gpu.md")
    smoke: bool = arg(False, help="tiny shapes on the CPU, seconds: checks every code path")
    network: str = arg("paper", help="TrainConfig preset of the network (smoke: tiny)")
    device: str = device_arg()
    train_batches: tuple[int, ...] = arg((8, 64), help="training batch sizes (images per step)")
    train_steps: int = arg(20, help="timed training steps per measurement")
    sample_batches: tuple[int, ...] = arg((64, 128, 256), help="sampling batch sizes to try")
    sample_steps: int = arg(20, help="DPM-Solver++ steps")
    sample_timed_batches: int = arg(2, help="timed batches at the chosen sampling batch size")
    gan_network: str = arg("paper", help="GanTrainConfig preset of the GAN (smoke: tiny)")
    gan_batch: int = arg(64, help="GAN training and sampling batch size")


def smoke_config(cfg: BenchGpuConfig) -> BenchGpuConfig:
    """The same suite at tiny shapes on the CPU."""
    return dataclasses.replace(
        cfg,
        network="tiny",
        device="cpu",
        train_batches=(2,),
        train_steps=2,
        sample_batches=(2, 3),
        sample_steps=2,
        sample_timed_batches=1,
        gan_network="tiny",
        gan_batch=2,
    )


def bench_gpu(cfg: BenchGpuConfig) -> StageResult:
    """Run every measurement of the suite, writing the figures after each one."""
    if cfg.smoke:
        cfg = smoke_config(cfg)
    if min(cfg.train_batches + cfg.sample_batches) < 1 or cfg.train_steps < 1:
        raise RadsynthError("batch sizes and train steps must be positive")
    record: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "host_cpu": cpu_model(),
        "smoke": cfg.smoke,
        "results": [],
    }
    compile_backend = "eager" if cfg.smoke else "inductor"
    forced = "on" if cfg.smoke else "auto"  # smoke: take the GPU branches on the CPU
    for compiled in ("off", "on"):
        for batch in cfg.train_batches:
            _measure(
                record,
                cfg,
                "train",
                dict(
                    preset=cfg.network,
                    device=cfg.device,
                    batch_size=batch,
                    steps=cfg.train_steps,
                    warmup_steps=3,
                    bf16=forced,
                    channels_last=forced,
                    compile=compiled,
                    compile_backend=compile_backend,
                ),
            )
    sample = dict(
        preset=cfg.network,
        device=cfg.device,
        sampler="dpmpp",
        steps=cfg.sample_steps,
        bf16=forced,
        channels_last=forced,
        compile_backend=compile_backend,
    )
    sweep = [
        _measure(record, cfg, "sample", dict(sample, batch=b, n=b, compile="off"))
        for b in cfg.sample_batches
    ]
    done = [r for r in sweep if "images_per_s" in r]
    if done:
        best = max(done, key=lambda r: r["images_per_s"])["batch"]
        for compiled in ("off", "on"):
            n = best * cfg.sample_timed_batches
            _measure(record, cfg, "sample", dict(sample, batch=best, n=n, compile=compiled))
    gan = dict(network=cfg.gan_network, device=cfg.device, batch_size=cfg.gan_batch)
    _measure(record, cfg, "train-gan", dict(gan, mode="train", steps=cfg.train_steps))
    _measure(record, cfg, "sample-gan", dict(gan, mode="sample", steps=cfg.sample_timed_batches))
    failed = sum("error" in r for r in record["results"])
    summary = f"{len(record['results'])} measurements, {failed} failed; see {cfg.out}"
    return StageResult(out=cfg.out, summary=summary)


def _measure(record: dict, cfg: BenchGpuConfig, kind: str, fields: dict) -> dict[str, Any]:
    """One measurement, appended to ``record`` and written out; an error is recorded."""
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
    try:
        result = measure(build_config(Config, fields))
        result.pop("probe", None)  # the trained network's output, kept for --levers only
    except RadsynthError:
        raise
    except Exception as exc:  # a compile or CUDA failure must not lose the other figures
        log.warning("%s %s failed: %s", kind, fields, exc)
        result = {
            "benchmark": kind,
            **fields,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=5),
        }
    record["results"].append(result)
    _write(record, cfg.out)
    log.info("%s: %s", kind, _row(result))
    return result


def _row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
    return f"{r['images_per_s']:.1f} images/s, MFU {mfu}"


def markdown_table(record: dict[str, Any]) -> str:
    """The measurements as a Markdown table for docs/benchmarks.md."""
    lines = [
        "| benchmark | device | batch | precision | compile | images/s | MFU | peak GiB "
        "| 27k images (min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["results"]:
        batch = r.get("batch_size", r.get("batch"))
        if "error" in r:
            lines.append(
                f"| {r['benchmark']} | | {batch} | | {r.get('compile')} | "
                f"failed: {r['error'][:80]} | | | |"
            )
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
        mem = f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") is not None else "n/a"
        minutes = f"{r['minutes_for_27000']:.1f}" if "minutes_for_27000" in r else ""
        name = r["benchmark"] + (f" {r['sampler']} x{r['steps']}" if "sampler" in r else "")
        lines.append(
            f"| {name} | {r['device']} | {batch} | {r['precision']} | {r['compile']} | "
            f"{r['images_per_s']:.1f} | {mfu} | {mem} | {minutes} |"
        )
    return "\n".join(lines) + "\n"


def _write(record: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench-gpu.json", json.dumps(record, indent=2) + "\n")
    header = f"Measured {record['started']} (host CPU {record['host_cpu']}).\n\n"
    atomic_write_text(out / "bench-gpu.md", header + markdown_table(record))
