"""Feature spaces for the image-set metrics, behind one small interface.

An extractor has a ``name``, a feature ``dim``, an ``identity`` string (weights hash and
preprocessing, used as part of cache keys) and maps a batch of images to features:

    extractor(images)  # (N, C, H, W) uint8 in [0, 255], C = 1 or 3  ->  (N, dim) float32 numpy

Feature spaces:

- ``inception``: TF-Inception ``inception-2015-12-05`` pool3 (2048-d), the standard FID network.
  Preprocessing, identical to torch-fidelity 0.4.0's: grey images are replicated to 3 channels;
  the uint8 values, as float32 and without rounding, are resized to 299x299 with TensorFlow 1.x
  bilinear interpolation (``align_corners=False``, no half-pixel centres, no antialiasing: the
  resize of the original TF FID code); then scaled as (x - 128) / 128.
- ``pixels``: the image area-averaged to 16x16 and flattened (256-d), in [0, 1]. Cheap and
  network-free: a sanity check on intensity and layout statistics, and fast in tests.
- ``torchscript``: a user-supplied TorchScript network (``--feature-net PATH``), e.g. a
  RadImageNet or in-domain radiograph classifier exported with ``torch.jit.save``. It receives
  (N, 3, S, S) float32 in [0, 1], S = ``feature_net_size_px`` (bilinear resize, antialiased when
  shrinking); its output is flattened to (N, D). Domain-specific features are reported beside
  Inception FID because ImageNet features are known to weigh radiograph detail poorly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.errors import RadsynthError
from radsynth.metrics.inception import load_inception
from radsynth.stage import sha256_file

FEATURES = ("inception", "pixels", "torchscript")
INCEPTION_SIZE_PX = 299


class FeatureExtractor(Protocol):
    """Maps (N, C, H, W) uint8 images to (N, dim) float32 features."""

    name: str
    dim: int
    identity: str

    def __call__(self, images: torch.Tensor) -> np.ndarray: ...


def _as_float_rgb(images: torch.Tensor) -> torch.Tensor:
    """(N, 1|3, H, W) uint8 (or float in [0, 255]) -> (N, 3, H, W) float32 in [0, 255]."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise RadsynthError(f"expected images of shape (N, 1|3, H, W), got {tuple(images.shape)}")
    x = images.to(torch.float32)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def resize_bilinear_tf1(x: torch.Tensor, size_px: int) -> torch.Tensor:
    """Bilinear resize of (N, C, H, W) float to (N, C, size, size) as TensorFlow 1.x does.

    Output pixel i samples the input at s = i * in / out (``align_corners=False`` without
    half-pixel centres), interpolating between floor(s) and min(floor(s) + 1, in - 1).
    """

    def axis(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(size_px, dtype=torch.float32) * torch.tensor(n_in / size_px)
        lo = pos.long()
        return lo, (lo + 1).clamp_max(n_in - 1), pos - lo.to(torch.float32)

    y_lo, y_hi, wy = axis(x.shape[2])
    x_lo, x_hi, wx = axis(x.shape[3])
    left, right = x[..., x_lo], x[..., x_hi]
    cols = left + (right - left) * wx.to(x.device)  # (N, C, H, size)
    top, bottom = cols[:, :, y_lo, :], cols[:, :, y_hi, :]
    return top + (bottom - top) * wy.to(x.device)[:, None]


@dataclass
class InceptionFeatures:
    """TF-Inception pool3 features (see the module docstring for the preprocessing)."""

    module: torch.nn.Module
    weights_sha256: str
    device: torch.device
    name: str = "inception"
    dim: int = 2048

    @property
    def identity(self) -> str:
        return f"inception-2015-12-05-pool3:{self.weights_sha256}:tf1-bilinear-{INCEPTION_SIZE_PX}"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = resize_bilinear_tf1(_as_float_rgb(images).to(self.device), INCEPTION_SIZE_PX)
        return self.module((x - 128.0) / 128.0).reshape(len(x), -1).float().cpu().numpy()


@dataclass
class PixelFeatures:
    """Area-averaged ``side_px`` x ``side_px`` grey thumbnails, flattened, in [0, 1]."""

    side_px: int = 16
    name: str = "pixels"

    @property
    def dim(self) -> int:
        return self.side_px * self.side_px

    @property
    def identity(self) -> str:
        return f"pixels-area-{self.side_px}"

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = _as_float_rgb(images).mean(dim=1, keepdim=True) / 255.0
        x = F.adaptive_avg_pool2d(x, self.side_px)
        return x.reshape(len(x), -1).numpy().astype(np.float32)


@dataclass
class TorchScriptFeatures:
    """A user-supplied TorchScript network as a feature space (flattened outputs)."""

    module: torch.nn.Module
    file_sha256: str
    size_px: int
    dim: int
    device: torch.device
    name: str = "torchscript"

    @property
    def identity(self) -> str:
        return f"torchscript:{self.file_sha256}:bilinear-aa-{self.size_px}"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = _as_float_rgb(images).to(self.device) / 255.0
        if x.shape[-2:] != (self.size_px, self.size_px):
            x = F.interpolate(x, size=self.size_px, mode="bilinear", antialias=True)
        return self.module(x).reshape(len(x), -1).float().cpu().numpy()


def load_torchscript_features(
    path: Path, size_px: int, device: torch.device
) -> TorchScriptFeatures:
    """Load a TorchScript feature network and probe its output size with one blank image."""
    if not path.is_file():
        raise RadsynthError(f"feature network not found: {path}")
    try:
        module = torch.jit.load(os.fspath(path), map_location=device).eval()
        with torch.no_grad():
            dim = module(torch.zeros(1, 3, size_px, size_px, device=device)).numel()
    except RuntimeError as exc:
        msg = f"cannot use {path} as a TorchScript network: {exc}".splitlines()[0]
        raise RadsynthError(msg) from None
    return TorchScriptFeatures(module, sha256_file(path), size_px, dim, device)


def make_extractor(
    name: str,
    *,
    inception_weights: str = "fid-helper",
    inception_sha256: str | None = None,
    feature_net: Path | None = None,
    feature_net_size_px: int = 224,
    device: torch.device | str = "cpu",
) -> FeatureExtractor:
    """Build the extractor called ``name`` (one of :data:`FEATURES`) on ``device`` (resolved by
    the caller, :func:`radsynth.hardware.device.resolve_device`)."""
    dev = torch.device(device)
    if name == "inception":
        module, digest = load_inception(inception_weights, inception_sha256)
        return InceptionFeatures(module.to(dev), digest, dev)
    if name == "pixels":
        return PixelFeatures()
    if name == "torchscript":
        if feature_net is None:
            raise RadsynthError("feature 'torchscript' needs --feature-net PATH")
        return load_torchscript_features(Path(feature_net), feature_net_size_px, dev)
    raise RadsynthError(f"unknown feature space {name!r}; choose one of {', '.join(FEATURES)}")
