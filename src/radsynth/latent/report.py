"""The reconstruction report of a trained autoencoder on one split (val at the end of training;
any split through ``radsynth recon-report``).

Each image is encoded to its posterior mean and decoded (no noise: the report measures the
autoencoder, not a draw). Written into OUT:

- ``recon/original/*.png`` and ``recon/reconstruction/*.png``: both quantised to 8 bits the same
  way, so FID/KID compare like with like;
- ``recon.json``: mean PSNR (dB) and SSIM (and MS-SSIM over 160 px) per image, and FID/KID of
  the reconstructions against the originals (the ceiling of any latent model built on it);
- ``recon_sheet.png``: originals (top row) over their reconstructions (bottom row).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radsynth.data.imageio import write_png
from radsynth.latent.losses import ms_ssim, ms_ssim_fits, ssim
from radsynth.models.autoencoder import decode, encode_moments
from radsynth.stage import atomic_write_text

#: Pairs shown on the sheet.
SHEET_PAIRS = 8


def psnr_db(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR = 10 log10(1 / MSE) in dB of images in [0, 1], shape (B,)."""
    mse = (x - y).pow(2).flatten(1).mean(1).double()
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-20))


@torch.no_grad()
def reconstruct(
    ae: torch.nn.Module, images: torch.Tensor, device: torch.device, batch_size: int
) -> torch.Tensor:
    """Reconstructions in [0, 1] (N, 1, H, W) float32 on the CPU of images in [0, 1]."""
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device).float() * 2 - 1
        mean, _ = encode_moments(ae, x)
        out.append(((decode(ae, mean).clamp(-1, 1) + 1) / 2).cpu())
    return torch.cat(out) if out else torch.zeros_like(images, dtype=torch.float32)


def _quantised(x: torch.Tensor) -> torch.Tensor:
    """The image as its 8-bit PNG holds it, back in [0, 1]."""
    return torch.round(x.float().clamp(0, 1) * 255) / 255


def _sheet(orig: torch.Tensor, recon: torch.Tensor) -> np.ndarray:
    """(2 H, k W) originals over reconstructions, k = at most SHEET_PAIRS."""
    k = min(SHEET_PAIRS, len(orig))
    top = np.concatenate([orig[i, 0].numpy() for i in range(k)], axis=1)
    bottom = np.concatenate([recon[i, 0].numpy() for i in range(k)], axis=1)
    return np.concatenate([top, bottom], axis=0)


def _metrics(real: Path, fake: Path, feature: str, device: torch.device) -> dict[str, Any]:
    from radsynth.metrics.compare import compute_metrics

    found = compute_metrics(real, fake, feature=feature, device=device)
    return {k: found.get(k) for k in ("fid", "kid_mean", "kid_std", "feature")}


def write_report(
    out: Path,
    ae: torch.nn.Module,
    val: torch.Tensor,
    *,
    feature: str,
    max_images: int,
    device: torch.device,
    batch_size: int,
    split: str = "val",
) -> dict[str, Any]:
    """Reconstruct up to ``max_images`` images (N, 1, H, W) in [0, 1] of ``split``; write the
    report.

    Returns:
        The contents of ``recon.json``.
    """
    orig = _quantised(val[:max_images])
    n = len(orig)
    report: dict[str, Any] = {"split": split, "n_images": n}
    if n == 0:
        report.update(psnr_db=None, ssim=None, fid=None, kid_mean=None, kid_std=None)
        atomic_write_text(out / "recon.json", json.dumps(report, indent=2) + "\n")
        return report
    recon = _quantised(reconstruct(ae, orig, device, batch_size))
    report["psnr_db"] = float(psnr_db(recon, orig).mean())
    report["ssim"] = float(ssim(recon, orig).mean())
    if ms_ssim_fits(orig.shape[-1]):
        report["ms_ssim"] = float(ms_ssim(recon, orig).mean())
    real_dir, fake_dir = out / "recon" / "original", out / "recon" / "reconstruction"
    for folder, images in ((real_dir, orig), (fake_dir, recon)):
        for i in range(n):
            write_png(folder / f"{i:06d}.png", images[i, 0].numpy())
    write_png(out / "recon_sheet.png", _sheet(orig, recon))
    report.update(_metrics(real_dir, fake_dir, feature, device))
    report = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in report.items()
    }
    atomic_write_text(out / "recon.json", json.dumps(report, indent=2) + "\n")
    return report
