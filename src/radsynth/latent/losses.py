"""The autoencoder's losses: SSIM / MS-SSIM, KL, hinge GAN and the adaptive GAN weight.

Images here are (B, C, H, W) in [0, 1] unless a docstring says otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: SSIM constants of Wang et al. 2004: C1 = (K1 L)^2, C2 = (K2 L)^2, L the data range.
SSIM_K1, SSIM_K2 = 0.01, 0.03
#: Gaussian window of Wang et al. 2004: 11 x 11, sigma 1.5.
WINDOW_PX, WINDOW_SIGMA_PX = 11, 1.5
#: MS-SSIM scale weights of Wang, Simoncelli and Bovik 2003 (5 scales, finest first).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: lambda of Esser et al. 2021, eq. 7, is kept below this (as large as their delta allows).
ADAPTIVE_WEIGHT_MAX = 1e4
ADAPTIVE_DELTA = 1e-4


def _gaussian_window(channels: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(C, 1, 11, 11) normalised Gaussian window, one per channel."""
    r = torch.arange(WINDOW_PX, dtype=torch.float64) - (WINDOW_PX - 1) / 2
    g = torch.exp(-(r**2) / (2 * WINDOW_SIGMA_PX**2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :]).to(dtype=dtype, device=device)
    return w.expand(channels, 1, WINDOW_PX, WINDOW_PX).contiguous()


def ssim_parts(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean SSIM and mean contrast-structure term, each (B,).

    Wang et al. 2004, eq. 13 with local Gaussian statistics over valid windows:
    SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
    and the contrast-structure term cs = (2 s_xy + C2) / (s_x^2 + s_y^2 + C2) (MS-SSIM).
    """
    c = x.shape[1]
    w = _gaussian_window(c, x.dtype, x.device)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004), shape (B,); images at least 11 px a side."""
    return ssim_parts(x, y, data_range)[0]


def ms_ssim_fits(size_px: int) -> bool:
    """MS-SSIM's coarsest scale (side / 16) must hold an 11 px window: sides over 160 px."""
    return size_px // 2 ** (len(MS_SSIM_WEIGHTS) - 1) >= WINDOW_PX


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image MS-SSIM (Wang, Simoncelli and Bovik 2003, eq. 7), shape (B,).

    prod_{j<M} cs_j ^ w_j * SSIM_M ^ w_M over 5 scales, each 2x2-averaged from the last; each
    term is clamped at 1e-6: a fractional power of a negative is undefined, and of 0 has an
    infinite gradient.
    """
    out = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    for j, weight in enumerate(MS_SSIM_WEIGHTS):
        s, cs = ssim_parts(x, y, data_range)
        last = j == len(MS_SSIM_WEIGHTS) - 1
        out = out * (s if last else cs).clamp_min(1e-6) ** weight
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


def structural_similarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MS-SSIM where the images are large enough (over 160 px), else SSIM; (B,)."""
    return ms_ssim(x, y) if ms_ssim_fits(min(x.shape[-2:])) else ssim(x, y)


def kl_divergence(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, std^2) || N(0, I)) summed over latent elements, averaged over the batch:
    1/2 sum(mean^2 + std^2 - 1 - log std^2) (Kingma and Welling 2014, appendix B)."""
    var = std.pow(2)
    kl = 0.5 * (mean.pow(2) + var - 1 - torch.log(var.clamp_min(1e-30)))
    return kl.flatten(1).sum(1).mean()


def reconstruction_loss(
    recon: torch.Tensor, target: torch.Tensor, ssim_weight: float
) -> torch.Tensor:
    """L1 + ssim_weight * (1 - (MS-)SSIM), batch-averaged; both images in [-1, 1]."""
    l1 = (recon - target).abs().mean()
    if ssim_weight == 0:
        return l1
    sim = structural_similarity((recon.clamp(-1, 1) + 1) / 2, (target + 1) / 2)
    return l1 + ssim_weight * (1 - sim.mean())


def patch_logits(disc: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The PatchGAN's last output (B, 1, h, w): one real/fake logit per patch."""
    return disc(x)[-1]


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss (Lim and Ye 2017):
    1/2 (E[relu(1 - D(x))] + E[relu(1 + D(G(z)))])."""
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: -E[D(G(z))]."""
    return -fake_logits.mean()


def adaptive_weight(
    rec_loss: torch.Tensor, gan_loss: torch.Tensor, last_layer: torch.Tensor
) -> torch.Tensor:
    """lambda = ||grad_GL L_rec|| / (||grad_GL L_GAN|| + delta), delta = 1e-4, clamped to
    [0, 1e4] and detached (Esser et al. 2021, eq. 7; G_L the decoder's last layer).

    Both losses keep their graphs (the caller still backpropagates them).
    """
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)[0]
    lam = g_rec.norm() / (g_gan.norm() + ADAPTIVE_DELTA)
    return lam.clamp(0.0, ADAPTIVE_WEIGHT_MAX).detach()
