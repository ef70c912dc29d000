"""``radsynth bench release``: how long a release of N images takes, leak checks included.

The benchmark lays out a run folder in the layout ``radsynth run`` writes (samples with their
sidecars, orientation.csv, a finished screen and audit whose records match the images, an
ingest folder with training images), filled with seeded synthetic images instead of a trained
model's, so that it measures the release alone: reading and hashing each image once, the pixel
hash against every training image (as generated and mirrored), the metadata and token checks,
the PNG re-encoding and the writing. Only the release is timed, not the set-up.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.layout import RunLayout, checkpoint_name
from radsynth.records._csv import write_csv
from radsynth.records.audit import NeighbourRow, write_neighbours
from radsynth.records.manifest import ManifestRow, write_manifest
from radsynth.records.screen import ScreenRow, write_screen
from radsynth.release.build import ReleaseConfig, release
from radsynth.stage import StageResult


@dataclass(frozen=True)
class BenchReleaseConfig:
    """Time a release of N synthetic images (leak checks included) on this machine."""

    n: int = arg(20000, help="images to release")
    size_px: int = arg(64, help="image side (px)")
    checkpoints: int = arg(3, help="checkpoint folders the images are spread over")
    n_train: int = arg(1000, help="training images the release is checked against")
    shard_size: int = arg(0, help="also write WebDataset shards of this many images (0: none)")
    format: str = arg("png", help="png or dicom", choices=("png", "dicom"))
    work: Path | None = arg(None, help="folder for the benchmark run (default: a temp folder)")
    seed: int = arg(0, help="seed of the synthetic images")


def _image(rng: np.random.Generator, size: int) -> bytes:
    """A smooth seeded grey image (coarse noise, upsampled) as PNG bytes."""
    coarse = rng.integers(0, 256, (max(1, size // 8),) * 2, dtype=np.uint8)
    img = Image.fromarray(coarse, mode="L").resize((size, size), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _finished(folder: Path, stage: str, extra: dict | None = None) -> None:
    _write(
        folder / "manifest.json", json.dumps({"stage": stage, "complete": True, **(extra or {})})
    )


def lay_out_run(run: Path, cfg: BenchReleaseConfig) -> None:
    """Write a run folder of ``cfg.n`` seeded images in the layout the release reads."""
    rng = np.random.default_rng(cfg.seed)
    at = RunLayout(run)
    steps = [(g + 1) * 1000 for g in range(cfg.checkpoints)]
    screen, orient, neigh, audited = [], [], [], []
    for i in range(cfg.n):
        step = steps[i % len(steps)]
        group = checkpoint_name(step)
        image = f"{group}/{i:06d}.png"
        data = _image(rng, cfg.size_px)
        _write(at.samples_of(step) / f"{i:06d}.png", data)
        meta = {
            "image": f"{i:06d}.png",
            "seed": i,
            "checkpoint_id": "0" * 64,
            "checkpoint_step": step,
            "sampler": "dpmpp",
            "steps": 25,
        }
        _write(at.sample_meta(step) / f"{i:06d}.json", json.dumps(meta))
        screen.append(ScreenRow(image, group, rng.random(), flagged=False))
        orient.append({"image": image, "flipped": i % 2})
        neigh.append(
            NeighbourRow(image, "000000.png", rng.random(), 100 * rng.random(), False, False)
        )
        audited.append({"path": f"kept/{image}", "sha256": hashlib.sha256(data).hexdigest()})
    for step in steps:
        sampling = {
            "checkpoint_id": "0" * 64,
            "checkpoint_step": step,
            "sampler": "dpmpp",
            "steps": 25,
            "model": {},
            "diffusion": {},
        }
        _write(at.samples_of(step) / "sampling.json", json.dumps(sampling))
    for folder in (at.screen, at.oriented, at.audit, at.data):
        folder.mkdir(parents=True, exist_ok=True)
    write_screen(at.screen_table, screen)
    _finished(at.screen, "screen")
    write_csv(at.orientation, ("image", "flipped"), orient)
    write_neighbours(at.audit_neighbours, neigh)
    _finished(at.audit, "audit", {"config": {"synthetic": "kept"}, "inputs": audited})
    sources = []
    for i in range(cfg.n_train):
        _write(at.split("train") / f"{i:06d}.png", _image(rng, cfg.size_px))
        patient = f"patient_{i:05d}"
        sources.append(
            ManifestRow(f"train/{i:06d}.png", "train", f"{patient}/film_{i:05d}.dcm", group=patient)
        )
    write_manifest(at.data_manifest, sources, ())
    ingest = {"size_px": cfg.size_px, "src": str(run / "source")}
    _finished(at.data, "ingest", {"config": ingest, "n_train": cfg.n_train, "n_val": 0})


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bench_release(cfg: BenchReleaseConfig) -> StageResult:
    """Lay out the run, time ``radsynth release`` on it, print and return the figures."""
    if cfg.n < 1 or cfg.checkpoints < 1 or cfg.n_train < 1 or cfg.size_px < 8:
        raise RadsynthError("n, checkpoints and n_train must be at least 1, size_px at least 8")
    work = cfg.work or Path(tempfile.mkdtemp(prefix="radsynth-bench-release-"))
    if (work / "run").exists() or (work / "release").exists():
        raise RadsynthError(f"{work} already holds a benchmark run; choose a new --work folder")
    try:
        start = time.perf_counter()
        lay_out_run(work / "run", cfg)
        setup_s = time.perf_counter() - start
        release_cfg = ReleaseConfig(
            run=work / "run",
            out=work / "release",
            source_licence="CC0-1.0",
            shard_size=cfg.shard_size,
            format=cfg.format,
        )
        start, cpu_start = time.perf_counter(), time.process_time()
        result = release(release_cfg, echo=lambda _: None)
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        if cfg.work is None:
            shutil.rmtree(work, ignore_errors=True)
    line = (
        f"released {cfg.n:,} {cfg.size_px} px images (checked against {cfg.n_train:,} training "
        f"images) in {seconds:.1f} s wall ({cfg.n / seconds:,.0f} images/s), {cpu_s:.1f} s CPU "
        f"({cfg.n / cpu_s:,.0f} images per CPU second); set-up {setup_s:.1f} s; load average "
        f"{os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs, {cpu_model()}, "
        f"Python {platform.python_version()}"
    )
    return StageResult(result.out, line)
