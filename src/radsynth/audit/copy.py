"""The ``copy`` feature: a near-copy detector that retrieves candidates, registers, verifies.

Two stages, nothing learned, so there are no weights to train or cache and the detector is the
same for every training set (deterministic: no random numbers at all):

1. **Retrieval** (invariant embedding). Each image is resized to ``work_px``, blurred and
   standardised; its descriptor is the log Fourier magnitude of the Hann-windowed image, low
   frequencies ``|u|, |v| <= freq_k`` only, averaged with its left-right reflection. The Fourier
   magnitude ignores translation (the shift theorem, Reddy & Chatterji, IEEE TIP 1996, use it
   for registration), the symmetrisation makes it mirror-invariant (|F| of a mirrored image is
   |F| reflected in u), log and standardisation absorb gamma/window, and the low band ignores
   noise and blur. Scale is not invariant, so every training image is indexed at several zooms
   (``index_zooms``). Exact blockwise cosine search (:func:`radsynth.audit.search.topk_cosine`)
   returns the ``candidates`` best distinct training images per query.
2. **Verification** (registration + normalized cross-correlation, Lewis, "Fast Normalized
   Cross-Correlation", Vision Interface 1995). Each candidate pair is registered by exhaustive
   search over a similarity transform of the training image: mirror x rotation x zoom on a coarse
   grid at ``coarse_px``, all integer translations at once by FFT correlation, then a finer grid
   around the best at ``work_px``. The score is the NCC of the central ``centre_frac`` of the
   synthetic image with the registered training image (1 = identical up to the transform and a
   linear intensity change). The audit calibrates the flag threshold on this score.

Shapes: prepared images (N, work_px, work_px) float32 tensors; descriptors (N, D) float32.
One encoder for this audit and the film checks? No: this detector is deliberately
mirror-invariant (a mirrored copy is a copy), while a film check that judges laterality needs a
representation that tells a film from its mirror image, so the two are kept apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.audit.search import topk_cosine


@dataclass(frozen=True)
class CopyParams:
    """Settings of the copy detector (the audit's defaults are the benchmarked ones)."""

    work_px: int = 64  # side the images are resized to for the fine registration (px)
    coarse_px: int = 32  # side for the coarse registration grid (px)
    blur_px: float = 1.0  # Gaussian sigma at work_px before everything (noise/blur tolerance)
    freq_k: int = 10  # highest Fourier frequency (cycles per image) in the retrieval descriptor
    # zooms each training image is indexed at (retrieval is not scale-invariant)
    index_zooms: tuple[float, ...] = (0.93, 1.0, 1.07, 1.14)
    candidates: int = 4  # training images verified per synthetic image
    angles_deg: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)  # coarse rotation grid
    zooms: tuple[float, ...] = (0.90, 0.95, 1.0, 1.05, 1.10, 1.15)  # coarse zoom grid
    fine_angle_deg: float = 1.0  # fine grid: best coarse angle +- this
    fine_zoom: float = 0.025  # fine grid: best coarse zoom x (1 +- this)
    centre_frac: float = 0.7  # share of each side of the synthetic image that is compared
    batch_pairs: int = 64  # pairs registered at once (memory ~ batch x grid x work_px^2 floats)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, H, W), edges replicated."""
    if sigma <= 0:
        return x
    r = int(math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    y = F.pad(x[:, None], (r, r, 0, 0), mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return y[:, 0]


def _standardise(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean((-2, -1), keepdim=True)
    return x / x.std((-2, -1), keepdim=True).clamp_min(1e-6)


def _resize(x: torch.Tensor, px: int) -> torch.Tensor:
    if x.shape[-2:] == (px, px):
        return x
    y = F.interpolate(x[:, None], size=(px, px), mode="bilinear", antialias=True)
    return y[:, 0]


def prepare(images: Sequence[np.ndarray], p: CopyParams) -> torch.Tensor:
    """(N, work_px, work_px): each (H, W) [0, 1] image resized, blurred and standardised."""
    out = []
    for img in images:
        x = torch.as_tensor(np.asarray(img, dtype=np.float32))[None]
        out.append(_resize(x, p.work_px))
    return _standardise(_blur(torch.cat(out), p.blur_px))


def _similarity_thetas(mirror, angle_deg, zoom) -> torch.Tensor:
    """(T, 2, 3) affine_grid matrices: output -> input coordinates of the training image for
    each (mirror, angle, zoom) triple (1-D tensors of equal length)."""
    a = torch.deg2rad(angle_deg.float())
    cos, sin = torch.cos(a) / zoom, torch.sin(a) / zoom
    flip = 1.0 - 2.0 * mirror.float()  # -1 mirrors the x axis
    zero = torch.zeros_like(cos)
    row0 = torch.stack([cos * flip, -sin, zero], -1)
    row1 = torch.stack([sin * flip, cos, zero], -1)
    return torch.stack([row0, row1], 1)


def _zoomed(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """(N, H, W) zoomed about the centre (zoom > 1 magnifies), borders replicated."""
    theta = _similarity_thetas(torch.zeros(1), torch.zeros(1), torch.tensor([zoom]))
    size = (len(x), 1, *x.shape[-2:])
    grid = F.affine_grid(theta.expand(len(x), 2, 3), size, align_corners=False)
    return F.grid_sample(x[:, None], grid, padding_mode="border", align_corners=False)[:, 0]


def descriptors(prepared: torch.Tensor, p: CopyParams, zoom: float = 1.0) -> np.ndarray:
    """(N, (2k+1)(k+1)) unit retrieval descriptors of prepared images (module docstring)."""
    n, px, _ = prepared.shape
    x = _standardise(_zoomed(prepared, zoom)) if zoom != 1.0 else prepared
    hann = torch.hann_window(px, periodic=False)
    spec = torch.fft.fftshift(torch.fft.fft2(x * hann[:, None] * hann[None, :]).abs(), dim=(-2, -1))
    c, k = px // 2, p.freq_k
    band = spec[:, c - k : c + k + 1, c - k : c + k + 1]
    band = (band + band.flip(-1))[:, :, : k + 1]  # mirror-symmetric half
    f = torch.log1p(band).reshape(n, -1)
    f = f - f.mean(1, keepdim=True)
    return (f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)).numpy()


def index_descriptors(prepared: torch.Tensor, p: CopyParams) -> np.ndarray:
    """(N * Z, D) descriptors of training images at every index zoom; row n * Z + z."""
    per_zoom = [descriptors(prepared, p, z) for z in p.index_zooms]
    return np.stack(per_zoom, 1).reshape(-1, per_zoom[0].shape[1])


def candidates(
    query: np.ndarray, index: np.ndarray, p: CopyParams, block_size: int = 4096
) -> np.ndarray:
    """(Q, c) indices of the ``c = min(candidates, N)`` most similar distinct training images,
    best first (by their best zoom), from :func:`index_descriptors` rows."""
    z = len(p.index_zooms)
    n_train = len(index) // z
    want = min(p.candidates, n_train)
    _, rows = topk_cosine(query, index, min(want * z, len(index)), block_size)
    out = np.zeros((len(query), want), dtype=np.int64)
    for i, row in enumerate(rows // z):
        _, first = np.unique(row, return_index=True)  # keep each image's best-ranked view
        out[i] = row[np.sort(first)][:want]
    return out


def _ncc_all_shifts(patch: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NCC of (B, T, c, c) zero-mean unit-norm patches at every position inside their (B, H, W)
    target: (B, T, H - c + 1, W - c + 1), by FFT correlation (Lewis 1995) and window norms from
    one integral image per target (shared by its T patches)."""
    b, h, w = target.shape
    c = patch.shape[-1]
    spec = torch.fft.rfft2(target)[:, None] * torch.fft.rfft2(patch, s=(h, w)).conj()
    corr = torch.fft.irfft2(spec, s=(h, w))[..., : h - c + 1, : w - c + 1]
    total, total_sq = _box_sums(target, c), _box_sums(target**2, c)
    norm = (total_sq - total**2 / (c * c)).clamp_min(0).sqrt().clamp_min(1e-6)
    return corr / norm.float()[:, None]


def _box_sums(x: torch.Tensor, c: int) -> torch.Tensor:
    """Sums over every c x c window of (B, H, W), via an integral image (float64, so that the
    window variance below does not cancel): (B, H - c + 1, W - c + 1)."""
    ii = F.pad(x.double().cumsum(-1).cumsum(-2), (1, 0, 1, 0))
    return ii[:, c:, c:] - ii[:, :-c, c:] - ii[:, c:, :-c] + ii[:, :-c, :-c]


def _centre_shape(px: int, frac: float) -> tuple[int, int]:
    c = max(2, round(frac * px))
    return c, c


def _centre_patch(x: torch.Tensor, frac: float) -> torch.Tensor:
    """The central frac x frac of (B, px, px), zero-mean and unit-norm: (B, c, c)."""
    px = x.shape[-1]
    c = _centre_shape(px, frac)[0]
    o = (px - c) // 2
    patch = x[:, o : o + c, o : o + c]
    patch = patch - patch.mean((-2, -1), keepdim=True)
    return patch / patch.norm(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


def _best_over_grid(query: torch.Tensor, train: torch.Tensor, thetas: torch.Tensor, frac: float):
    """query, train: (P, px, px); thetas: (P, T, 2, 3). The centre of each warped training image
    is slid over the whole query; best NCC (P,) and its grid index (P,)."""
    n, t = thetas.shape[:2]
    px = train.shape[-1]
    if thetas.stride(0) == 0:  # one grid for every pair (the coarse one): sample it once
        grid = F.affine_grid(thetas[0], (t, 1, px, px), align_corners=False).repeat(n, 1, 1, 1)
    else:
        grid = F.affine_grid(thetas.reshape(n * t, 2, 3), (n * t, 1, px, px), align_corners=False)
    src = train[:, None].expand(n, t, px, px).reshape(n * t, 1, px, px)
    warped = F.grid_sample(src, grid, padding_mode="border", align_corners=False)[:, 0]
    patch = _centre_patch(warped, frac).reshape(n, t, *_centre_shape(px, frac))
    ncc = _ncc_all_shifts(patch, query).reshape(n, t, -1).amax(-1)  # (P, T)
    return ncc.max(1)


def verify(
    query: torch.Tensor, train: torch.Tensor, p: CopyParams
) -> tuple[np.ndarray, np.ndarray]:
    """Registered NCC of each pair (query[i], train[i]), both (P, work_px, work_px) prepared.

    Returns (score (P,) float32 in [-1, 1], mirrored (P,) bool: the best registration mirrors
    the training image).
    """
    m, a, z = torch.meshgrid(
        torch.tensor([0.0, 1.0]), torch.tensor(p.angles_deg), torch.tensor(p.zooms), indexing="ij"
    )
    coarse = _similarity_thetas(m.reshape(-1), a.reshape(-1), z.reshape(-1))  # (T, 2, 3)
    d = torch.tensor([-1.0, 0.0, 1.0])
    scores, mirrored = [], []
    with torch.no_grad():
        for s in range(0, len(query), p.batch_pairs):
            q, t = query[s : s + p.batch_pairs], train[s : s + p.batch_pairs]
            qc, tc = _resize(q, p.coarse_px), _resize(t, p.coarse_px)
            th = coarse[None].expand(len(q), -1, -1, -1)
            _, best = _best_over_grid(qc, tc, th, p.centre_frac)
            bm, ba, bz = m.reshape(-1)[best], a.reshape(-1)[best], z.reshape(-1)[best]
            # Fine grid around the coarse optimum, at work_px.
            fa = (ba[:, None] + p.fine_angle_deg * d[None, :])[:, :, None].expand(-1, 3, 3)
            fz = (bz[:, None] * (1 + p.fine_zoom * d[None, :]))[:, None, :].expand(-1, 3, 3)
            fm = bm[:, None, None].expand(-1, 3, 3)
            fine = _similarity_thetas(fm.reshape(-1), fa.reshape(-1), fz.reshape(-1))
            score, _ = _best_over_grid(q, t, fine.reshape(len(q), 9, 2, 3), p.centre_frac)
            scores.append(score)
            mirrored.append(bm > 0.5)
    return torch.cat(scores).numpy().astype(np.float32), torch.cat(mirrored).numpy()
