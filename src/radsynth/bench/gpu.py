"""``radsynth bench gpu`` (``make bench-gpu``): the GPU suite, one command that fits an 8-minute
slot of a 15-minute GPU lease.

On the ``paper`` preset (256 px, 36.4M parameters), bf16 autocast and channels_last throughout:

1. **Training**, about ``train_images`` images per row (2,000), each extrapolated to the study's
   1.28M training images (hours): eager; *before* (compiled as in the last release: host copies
   per step, torch's default Adam); the two eager-free levers alone (the training set on the
   device, fused Adam), each on the compiled step; *after* (all of them, with CUDA graphs:
   ``compile_mode="reduce-overhead"``); and, when the budget allows, ``max-autotune`` (kernel
   search + CUDA graphs; its compilation alone is estimated at 5 minutes).
2. **Sampling** with DPM-Solver++(2M) x 20 steps: eager at ``sample_eager_batch``, then compiled
   with CUDA graphs (the sampler's loop calls the network with one fixed shape) at the largest
   batch of ``sample_batches`` that fits in memory, extrapolated to 27,000 images (minutes).
3. **Latent diffusion at 512 and 1024 px** (issue 25): training images/s of the ``latent-512``
   and ``latent-1024`` UNets on random latents of the ``f8-512``/``f8-1024`` autoencoders'
   shapes (64 x 64 x 4 and 128 x 128 x 4, drawn per stream position as ``train --autoencoder``
   draws its cached ones; the preset's batch, eager), and sampling images/s with
   DPM-Solver++(2M) x ``sample_steps`` including the decode of each latent to a full-size film
   through a random autoencoder of that shape (eager, ``latent_sample_batch``).
4. The GAN's training and sampling images/s (:mod:`radsynth.gan.bench`), if the budget allows.

In place of FID, each row reports the max-abs difference from its eager reference: the trained
network's output on a fixed probe (training rows, against the first row at the same batch), or
the first images of the same seeds (sampling; image n depends on seed n alone).

The budget: before each row the suite adds the row's estimated seconds (:data:`ESTIMATE_S`, from
the H200 run of docs/benchmarks.md) to the time spent so far, and skips the row (recorded as
skipped) when that would pass ``budget_s``; the estimate is printed first. Each figure is written
as soon as it is taken (``bench-gpu.json``, ``bench-gpu.md``), and a failing row (a compile or
out-of-memory error) is recorded with its error, so a lease that runs out keeps every figure
taken. ``--smoke`` runs the same code paths (bf16 autocast, channels_last, the compile wrapper
with the ``eager`` backend, the device queries) on the CPU with tiny shapes in seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radsynth.bench.rows import measure_row, summary_lines, write_record
from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.hardware.device import cpu_model
from radsynth.hardware.flags import device_arg
from radsynth.stage import StageResult

log = logging.getLogger(__name__)

#: Estimated wall seconds of each kind of row on one H100/H200 (docs/benchmarks.md, H200:
#: compiling a training shape took 97-116 s, a sampling shape 48 s; eager sampling ran 12.5
#: images/s). A compiled row whose graph was compiled before in the run mostly hits inductor's
#: cache ("train recompiled"); max-autotune's kernel search is a guess. The latent rows are
#: unmeasured guesses, kept high: eager paper-width training at 256 px ran 110 ms per step of 8
#: (launch-bound), so 1,024 latent images (64 steps of 16 at 512 px, 128 of 8 at 1024 px with
#: activation checkpointing) take about 7 and 20 s, plus building the networks and counting
#: FLOPs; a sampling row is two batches of 16 (one a short warm-up).
ESTIMATE_S = {
    "startup": 30,
    "train eager": 30,
    "train compiled": 130,
    "train recompiled": 50,
    "train max-autotune": 300,
    "sample eager": 25,
    "sample compiled": 90,
    "gan": 40,
    "latent train 512": 35,
    "latent sample 512": 30,
    "latent train 1024": 55,
    "latent sample 1024": 45,
}

#: The rows in the order they run, most wanted first, so that the budget cuts the least wanted:
#: (part, label, estimate key). Parts: train levers (:func:`train_fields`), sampling, latent
#: diffusion (:func:`latent_fields`), the GAN. Within 480 s the estimates keep the eager
#: references, both CUDA-graph rows and the four latent rows (470 s with start-up); *train
#: before (compiled)*, the last release's compiled step, comes after them: the previous suite
#: measured that step on an H200 (199.6 images/s at batch 64, docs/benchmarks.md).
ROWS = (
    ("train", "train eager", "train eager"),
    ("train", "train after (cuda graphs)", "train compiled"),
    ("sample", "sample eager", "sample eager"),
    ("sample", "sample cuda graphs", "sample compiled"),
    ("latent", "latent-512 train", "latent train 512"),
    ("latent", "latent-512 sample", "latent sample 512"),
    ("latent", "latent-1024 train", "latent train 1024"),
    ("latent", "latent-1024 sample", "latent sample 1024"),
    ("train", "train before (compiled)", "train compiled"),
    ("train", "+ data on device", "train recompiled"),
    ("train", "+ fused adam", "train recompiled"),
    ("gan", "gan train", "gan"),
    ("gan", "gan sample", "gan"),
    ("train", "train after (max-autotune)", "train max-autotune"),
)


@dataclass(frozen=True)
class BenchGpuConfig:
    """Run the GPU benchmark suite (training levers, CUDA-graph sampling, the GAN)."""

    out: Path = arg(Path("bench-gpu"), help="folder for bench-gpu.json and bench-gpu.md")
    smoke: bool = arg(False, help="tiny shapes on the CPU, seconds: checks every code path")
    network: str = arg("paper", help="TrainConfig preset of the network (smoke: tiny)")
    device: str = device_arg()
    train_batch: int = arg(64, help="training images per step")
    train_images: int = arg(2000, help="timed training images per row (rounded up to steps)")
    sample_eager_batch: int = arg(128, help="eager sampling batch (the reference images)")
    sample_batches: tuple[int, ...] = arg(
        (512, 256), help="compiled sampling batches, largest first: the first that fits is kept"
    )
    sample_images: int = arg(1024, help="timed images of the compiled sampler")
    sample_steps: int = arg(20, help="DPM-Solver++ steps")
    gan_network: str = arg("paper", help="GanTrainConfig preset of the GAN (smoke: tiny)")
    gan_batch: int = arg(64, help="GAN training and sampling batch size")
    latent_train_images: int = arg(1024, help="timed images per latent training row")
    latent_sample_batch: int = arg(16, help="latent sampling batch (decoded one latent at a time)")
    budget_s: float = arg(480.0, help="skip rows that would end later than this (seconds)")


def smoke_config(cfg: BenchGpuConfig) -> BenchGpuConfig:
    """The same suite at tiny shapes on the CPU."""
    return dataclasses.replace(
        cfg,
        network="tiny",
        device="cpu",
        train_batch=2,
        train_images=4,
        sample_eager_batch=2,
        sample_batches=(3, 2),
        sample_images=3,
        sample_steps=2,
        gan_network="tiny",
        gan_batch=2,
        latent_train_images=4,
        latent_sample_batch=2,
    )


def train_fields(label: str) -> dict[str, Any]:
    """The BenchTrainConfig fields of a training row: *before* is the compiled step of the last
    release (host copies per step, torch's default Adam); a lever row changes one thing of it;
    *after* takes every lever, with CUDA graphs."""
    before = {"compile": "on", "compile_mode": "default"}
    before |= {"data_on_device": "off", "optimizer_impl": "default"}
    after = {"compile": "on", "data_on_device": "on", "optimizer_impl": "fused"}
    return {
        "train eager": {**before, "compile": "off"},
        "train before (compiled)": before,
        "+ data on device": {**before, "data_on_device": "on"},
        "+ fused adam": {**before, "optimizer_impl": "fused"},
        "train after (cuda graphs)": {**after, "compile_mode": "reduce-overhead"},
        "train after (max-autotune)": {**after, "compile_mode": "max-autotune"},
    }[label]


def estimate_s() -> int:
    """The whole suite's estimated seconds on one H100/H200."""
    return ESTIMATE_S["startup"] + sum(ESTIMATE_S[key] for _, _, key in ROWS)


def bench_gpu(cfg: BenchGpuConfig) -> StageResult:
    """Run every row of the suite that fits the budget, writing the figures after each one."""
    if cfg.smoke:
        cfg = smoke_config(cfg)
    sizes = (cfg.train_batch, cfg.train_images, cfg.sample_eager_batch, cfg.sample_images)
    if min(*sizes, cfg.latent_train_images, cfg.latent_sample_batch) < 1:
        raise RadsynthError("batch sizes and image counts must be positive")
    if not cfg.sample_batches or min(cfg.sample_batches) < 1:
        raise RadsynthError("sample_batches must list positive batch sizes")
    record: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "host_cpu": cpu_model(),
        "smoke": cfg.smoke,
        "budget_s": cfg.budget_s,
        "estimate_s": estimate_s(),
        "results": [],
    }
    print(budget_text(cfg), flush=True)
    suite = Suite(cfg, record, time.monotonic())
    for part, label, estimate in ROWS:
        if part == "train":
            suite.row(label, estimate, "train", train_common(cfg) | train_fields(label))
        elif part == "sample":
            run_sampling(suite, label, estimate)
        elif part == "latent":
            mode = label.split()[-1]
            suite.row(label, estimate, mode, latent_fields(cfg, label.split()[0], mode))
        else:
            mode = label.split()[-1]
            fields = dict(network=cfg.gan_network, device=cfg.device, batch_size=cfg.gan_batch)
            steps = max(1, -(-cfg.train_images // cfg.gan_batch)) if mode == "train" else 2
            suite.row(label, estimate, f"{mode}-gan", dict(fields, mode=mode, steps=steps))
    record["seconds"] = time.monotonic() - suite.start
    write_record(record, cfg.out)
    for line in summary_lines(record):
        print(line, flush=True)
    results = record["results"]
    failed, skipped = (sum(k in r for r in results) for k in ("error", "skipped"))
    summary = (
        f"{len(results)} rows, {failed} failed, {skipped} skipped for the budget, in "
        f"{record['seconds']:.0f} s; see {cfg.out}"
    )
    return StageResult(out=cfg.out, summary=summary)


def budget_text(cfg: BenchGpuConfig) -> str:
    """The time budget, printed before the suite starts."""
    rows = ", ".join(f"{label} {ESTIMATE_S[key]} s" for _, label, key in ROWS)
    return (
        f"bench gpu: budget {cfg.budget_s:.0f} s; estimated on one H100/H200: start-up "
        f"{ESTIMATE_S['startup']} s, {rows}; {estimate_s()} s in all, so a row that would end "
        "past the budget is skipped (the last rows first)"
        + (" [smoke: tiny shapes, the estimates do not apply]" if cfg.smoke else "")
    )


@dataclass
class Suite:
    """The running suite: its config, the record written after each row, the start time."""

    cfg: BenchGpuConfig
    record: dict[str, Any]  # what bench-gpu.json holds
    start: float  # time.monotonic() at the start
    probes: dict[str, Any] = dataclasses.field(default_factory=dict)  # eager references

    def row(self, label: str, estimate: str, kind: str, fields: dict) -> dict[str, Any]:
        """Measure one row, or record it as skipped when its estimate passes the budget."""
        spent = time.monotonic() - self.start
        cost = 0 if self.cfg.smoke else ESTIMATE_S[estimate]
        if spent + cost > self.cfg.budget_s:
            result = {"label": label, "benchmark": kind, **fields, "skipped": "budget"}
            result["reason"] = (
                f"{spent:.0f} s spent + {cost} s estimated > {self.cfg.budget_s:.0f} s"
            )
            self.record["results"].append(result)
        else:
            result = measure_row(self.record, self.probes, label, kind, fields)
        write_record(self.record, self.cfg.out)
        return result


def train_common(cfg: BenchGpuConfig) -> dict[str, Any]:
    """The fields every training row shares: about ``train_images`` images, bf16, channels-last
    (forced on in the smoke run, to take the GPU branches on the CPU)."""
    forced = "on" if cfg.smoke else "auto"
    return dict(
        preset=cfg.network,
        device=cfg.device,
        batch_size=cfg.train_batch,
        steps=max(1, -(-cfg.train_images // cfg.train_batch)),
        warmup_steps=3,
        bf16=forced,
        channels_last=forced,
        compile_backend="eager" if cfg.smoke else "inductor",
    )


def run_sampling(suite: Suite, label: str, estimate: str) -> None:
    """Eager sampling (the reference images), or compiled with CUDA graphs at the largest
    batch of ``sample_batches`` that fits in memory."""
    cfg = suite.cfg
    forced = "on" if cfg.smoke else "auto"
    common = dict(
        preset=cfg.network,
        device=cfg.device,
        sampler="dpmpp",
        steps=cfg.sample_steps,
        bf16=forced,
        channels_last=forced,
        compile_backend="eager" if cfg.smoke else "inductor",
    )
    if label == "sample eager":
        batch = cfg.sample_eager_batch
        suite.row(label, estimate, "sample", dict(common, batch=batch, n=batch, compile="off"))
        return
    for batch in sorted(cfg.sample_batches, reverse=True):
        n = max(batch, cfg.sample_images)
        fields = dict(common, batch=batch, n=n, compile="on", compile_mode="reduce-overhead")
        result = suite.row(f"{label} b{batch}", estimate, "sample", fields)
        if "out of memory" not in result.get("error", "").lower():
            return  # measured, skipped, or failed for another reason than memory


#: Each latent row's networks: the TrainConfig preset of the UNet and the train-autoencoder
#: preset whose latents it learns (the smoke run: both ``tiny``, 32 px, 8 x 8 x 3 latents).
LATENT_NETWORKS = {
    "latent-512": ("latent-512", "f8-512"),
    "latent-1024": ("latent-1024", "f8-1024"),
}


def latent_fields(cfg: BenchGpuConfig, network: str, mode: str) -> dict[str, Any]:
    """The BenchTrainConfig (``mode`` "train") or BenchSampleConfig ("sample") fields of a
    latent row: eager, bf16 and channels_last as in the other rows; training at the preset's
    batch on random latents of the autoencoder's shape, sampling with the decode."""
    from radsynth.config import build_config
    from radsynth.latent.config import AutoencoderConfig
    from radsynth.training.config import TrainConfig

    preset, autoencoder = ("tiny", "tiny") if cfg.smoke else LATENT_NETWORKS[network]
    forced = "on" if cfg.smoke else "auto"
    common = dict(preset=preset, device=cfg.device, bf16=forced, channels_last=forced)
    if mode == "sample":
        batch = cfg.latent_sample_batch
        steps = cfg.sample_steps
        return dict(common, autoencoder=autoencoder, sampler="dpmpp", steps=steps, batch=batch)
    ae = build_config(AutoencoderConfig, {"data": ".", "out": ".", "preset": autoencoder})
    batch = build_config(TrainConfig, {"data": ".", "out": ".", "preset": preset}).batch_size
    if cfg.smoke:
        batch = cfg.train_batch
    return dict(
        common,
        compile="off",
        batch_size=batch,
        steps=max(1, -(-cfg.latent_train_images // batch)),
        warmup_steps=3,
        latent_channels=ae.latent_channels,
        latent_factor=ae.factor,
    )
