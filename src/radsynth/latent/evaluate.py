"""``radsynth recon-report``: an autoencoder checkpoint's reconstruction report on one split.

``train-autoencoder`` writes the report of its last checkpoint on the val split. To choose a
checkpoint or a setting on val and then report on data that chose nothing, run this on each
candidate with ``--split val``, pick, and run it once more on the pick with ``--split test``.
The figures are :mod:`radsynth.latent.report`'s: PSNR, SSIM (MS-SSIM above 160 px), and FID/KID
of the reconstructions against the originals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.hardware.flags import device_arg
from radsynth.hardware.runtime import resolve_runtime
from radsynth.hardware.threads import cpu_threads
from radsynth.latent.report import write_report
from radsynth.stage import StageResult, prepare_output_dir, write_manifest
from radsynth.training.autoencoder_checkpoint import AE_FILE, load_autoencoder
from radsynth.training.data import load_split

STAGE = "recon-report"


@dataclass(frozen=True)
class ReconReportConfig:
    """The reconstruction report of one autoencoder checkpoint on one split."""

    autoencoder: Path = arg(
        help="a train-autoencoder checkpoint folder, or its run folder (latest)", positional=True
    )
    data: Path = arg(help="the ingest folder the split comes from", positional=True)
    out: Path = arg(help="output folder for recon.json, recon_sheet.png, recon/", positional=True)
    split: Literal["train", "val", "test"] = arg("test", help="which split to reconstruct")
    feature: Literal["inception", "pixels"] = arg(
        "inception", help="feature space of the reconstructions' FID/KID"
    )
    max_images: int = arg(1000, help="at most this many images of the split, in manifest order")
    batch_size: int = arg(8, help="images per encode/decode batch")
    device: str = device_arg()
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")


def recon_report(cfg: ReconReportConfig) -> StageResult:
    """Reconstruct ``cfg.split`` of ``cfg.data`` through the autoencoder; write the report.

    Raises:
        RadsynthError: a missing or corrupt checkpoint, a data folder at another size, a split
            with no images, or a refused output folder (one line each, before writing).
    """
    if cfg.max_images < 1 or cfg.batch_size < 1:
        raise RadsynthError("--max-images and --batch-size must be at least 1")
    rt = resolve_runtime(cfg.device, threads=cfg.cpu_threads or None)
    with cpu_threads(cfg.cpu_threads):
        ae = load_autoencoder(cfg.autoencoder, device=rt.device, need_scale_factor=False)
        size = ae.shape.image_size_px
        hint = f"the autoencoder was trained at {size} px: give an ingest folder at that size"
        images, files = load_split(cfg.data, cfg.split, size, hint)
        prepare_output_dir(Path(cfg.out), STAGE, cfg)
        report = write_report(
            Path(cfg.out),
            ae.model,
            images,
            feature=cfg.feature,
            max_images=cfg.max_images,
            device=rt.device,
            batch_size=cfg.batch_size,
            split=cfg.split,
        )
    write_manifest(
        Path(cfg.out),
        STAGE,
        cfg,
        inputs=[ae.path / AE_FILE, *files[: cfg.max_images]],
        extra={
            "checkpoint": str(ae.path),
            "autoencoder_sha256": ae.checkpoint_id,  # hashed by load_autoencoder
            "recon": report,
        },
    )
    psnr, fid = report.get("psnr_db"), report.get("fid")
    return StageResult(
        out=Path(cfg.out),
        summary=(
            f"{cfg.split}: {report['n_images']} images through {ae.path.name}; PSNR "
            f"{'n/a' if psnr is None else f'{psnr:.2f} dB'}, SSIM {report.get('ssim') or 0:.3f}, "
            f"rFID {'n/a' if fid is None else f'{fid:.1f}'}; in {cfg.out}"
        ),
    )
