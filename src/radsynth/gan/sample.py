"""A GAN's images from their seeds (:func:`generate`), and how ``radsynth sample`` writes them
(:mod:`radsynth.sampling.gan`).

Image n depends on seed n alone, whatever the batch size or the number of processes: its latent
z is drawn on the CPU from its own ``torch.Generator().manual_seed(n)`` (never one
``randn(B, ...)`` for the batch), the generator has no batch-dependent layer and no per-layer
noise, and truncation (Karras et al. 2019, sec. 5.1) pulls the mapped latent towards the stored
average latent of the image's own class: w' = w_avg[c] + psi (w - w_avg[c]).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from radsynth.gan.checkpoint import LoadedGan


def seed_latents(seeds: Sequence[int], latent_dim: int) -> torch.Tensor:
    """(B, latent_dim) float32 on the CPU: row i from its own generator seeded ``seeds[i]``."""
    rows = [torch.randn(latent_dim, generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(rows)


@torch.no_grad()
def generate(
    loaded: LoadedGan,
    z: torch.Tensor,
    labels: torch.Tensor | None,
    psi: float,
    device: torch.device,
) -> torch.Tensor:
    """Images (B, C, H, W) in model space from latents z (B, D) and classes (B,) or None."""
    g = loaded.generator
    y = None if labels is None else labels.to(device)
    w = g.mapping(z.to(device), y)  # (B, D)
    if psi != 1.0:
        centre = loaded.w_avg.to(device)[y if y is not None else torch.zeros_like(w[:, 0]).long()]
        w = centre + psi * (w - centre)
    return g.synthesis(w)
