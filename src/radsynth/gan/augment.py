"""Differentiable augmentation of the discriminator's inputs, for datasets of a few thousand films.

DiffAugment (Zhao et al. 2020): the same random transforms are applied to real and fake images
before the discriminator, and gradients flow through them to the generator, so the
discriminator cannot memorise the few real films and the generator never learns the transforms.
As in ADA (Karras et al. 2020), each transform is applied to each image with probability ``p``.

Transforms: brightness (add U(-0.25, 0.25)), contrast (scale about the image mean by
U(0.75, 1.25)), integer translation by up to 1/8 of the side (zero padding) and cutout of a
square of half the side (set to 0, mid grey in [-1, 1]). There is deliberately no left-right
flip: laterality is anatomy (the heart is on the left), and a flipped film is a different film.

Parameters are drawn first (:func:`draw_augment`) and applied by a pure function
(:func:`apply_augment`), so a gradient penalty can call the augmented discriminator on the very
same transforms twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AugmentParams:
    """Per-image transform parameters; an image whose transform is off has the identity value."""

    brightness: torch.Tensor  # (B,) added offset
    contrast: torch.Tensor  # (B,) factor about the image mean
    shift: torch.Tensor  # (B, 2) integer (dy, dx) in pixels
    cutout: torch.Tensor  # (B, 2) cutout centre (cy, cx) in pixels, -1 = none


def draw_augment(n: int, size_px: int, p: float, gen: torch.Generator) -> AugmentParams:
    """Draw the transforms of ``n`` images of ``size_px``; all from ``gen`` (on its device)."""
    dev = gen.device

    def on(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(shape, generator=gen, device=dev) < p

    def uniform(lo: float, hi: float, shape: tuple[int, ...]) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape, generator=gen, device=dev)

    brightness = torch.where(on((n,)), uniform(-0.25, 0.25, (n,)), 0.0)
    contrast = torch.where(on((n,)), uniform(0.75, 1.25, (n,)), 1.0)
    reach = max(1, size_px // 8)
    shift = torch.randint(-reach, reach + 1, (n, 2), generator=gen, device=dev)
    shift = torch.where(on((n, 1)), shift, 0)
    centre = torch.randint(0, size_px, (n, 2), generator=gen, device=dev)
    centre = torch.where(on((n, 1)), centre, -1)
    return AugmentParams(brightness, contrast, shift, centre)


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift each image by whole pixels (B, 2), filling with 0; a gather, so differentiable."""
    _, _, h, w = x.shape
    ys = torch.arange(h, device=x.device)[None, :] - shift[:, :1]  # (B, H) source rows
    xs = torch.arange(w, device=x.device)[None, :] - shift[:, 1:]  # (B, W) source columns
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    rows = ys.clamp(0, h - 1)[:, None, :, None].expand(-1, x.shape[1], -1, w)
    out = x.gather(2, rows)
    cols = xs.clamp(0, w - 1)[:, None, None, :].expand(-1, x.shape[1], h, -1)
    out = out.gather(3, cols)
    return out * inside[:, None].to(x.dtype)


def _cutout_mask(shape: torch.Size, centre: torch.Tensor) -> torch.Tensor:
    """1 outside each image's square of half the side around ``centre``, 0 inside (B,1,H,W)."""
    _, _, h, w = shape
    half = max(1, h // 4)
    yy = torch.arange(h, device=centre.device)[None, :, None]
    xx = torch.arange(w, device=centre.device)[None, None, :]
    cy, cx = centre[:, :1, None], centre[:, 1:, None]
    inside = ((yy - cy).abs() < half) & ((xx - cx).abs() < half) & (cy >= 0)
    return (~inside)[:, None].float()


def apply_augment(x: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """Apply drawn transforms to images (B, C, H, W) in [-1, 1]; differentiable in ``x``."""
    x = x + params.brightness[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * params.contrast[:, None, None, None] + mean
    x = _translate(x, params.shift)
    return x * _cutout_mask(x.shape, params.cutout).to(x.dtype)
