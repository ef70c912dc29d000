"""The utility benchmark's classifier: a MONAI network trained from scratch, the same way in
every arm.

MONAI's ``DenseNet121`` is the architecture of the CheXpert baselines (Irvin et al. 2019);
``resnet18`` (MONAI's, He et al. 2016) is a cheaper choice for CPU runs. Both are built with
``spatial_dims=2, in_channels=1`` and random weights. Every arm gets the same number of
optimizer steps and class-balanced batches (each batch holds batch/2 images of each class,
drawn uniformly within the class with a seeded generator), so arms differ only in the images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

ARCHS = ("densenet121", "resnet18")


@dataclass(frozen=True)
class ClassifierSettings:
    """How each classifier is trained."""

    arch: str  # densenet121 | resnet18
    steps: int  # optimizer steps per classifier
    batch: int  # images per step (half of each class)
    lr: float  # AdamW learning rate
    hflip: bool  # random left-right flips
    device: torch.device = torch.device("cpu")  # where the network trains and predicts


def build_classifier(arch: str) -> torch.nn.Module:
    """A randomly initialised 2-D, 1-channel, 2-class MONAI network: (B, 1, H, W) -> (B, 2)."""
    from monai.networks.nets import DenseNet121, resnet18

    if arch == "densenet121":
        return DenseNet121(spatial_dims=2, in_channels=1, out_channels=2)
    if arch == "resnet18":
        return resnet18(spatial_dims=2, n_input_channels=1, num_classes=2)
    raise ValueError(f"unknown classifier {arch!r}; choose from {ARCHS}")


def balanced_batch(by_class: list[torch.Tensor], batch: int, gen: torch.Generator) -> torch.Tensor:
    """Indices of one class-balanced batch: batch // 2 from each class, with replacement."""
    half = batch // 2
    parts = [
        idx[torch.randint(len(idx), (n,), generator=gen)]
        for idx, n in zip(by_class, (half, batch - half), strict=True)
    ]
    return torch.cat(parts)


def train_classifier(
    images: torch.Tensor, labels: torch.Tensor, settings: ClassifierSettings, seed: int
) -> tuple[torch.nn.Module, float]:
    """Train one classifier; returns it (eval mode) and its training images/s.

    Args:
        images: (N, 1, H, W) float16 in [0, 1].
        labels: (N,) int64 in {0, 1}; both classes present.
        seed: seeds the initial weights, the batches and the flips.
    """
    torch.manual_seed(seed)
    device = settings.device
    net = build_classifier(settings.arch).to(device)  # initialised on the CPU: same weights
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed * 7_919 + 17)
    by_class = [torch.nonzero(labels == c).flatten() for c in (0, 1)]
    net.train()
    start = time.perf_counter()
    for _ in range(settings.steps):
        idx = balanced_batch(by_class, settings.batch, gen)
        x = images[idx].to(device).float() * 2 - 1  # (B, 1, H, W) in [-1, 1]
        if settings.hflip:
            flip = (torch.rand(len(idx), generator=gen) < 0.5).to(device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        loss = torch.nn.functional.cross_entropy(net(x), labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    return net.eval(), settings.steps * settings.batch / max(seconds, 1e-9)


@torch.no_grad()
def predict(net: torch.nn.Module, images: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """P(positive class) per image, (N,) float64 on the CPU; runs on the network's device."""
    device = next(net.parameters()).device
    out = []
    for i in range(0, len(images), batch):
        x = images[i : i + batch].to(device).float() * 2 - 1
        out.append(torch.softmax(net(x).float(), dim=1)[:, 1].cpu())
    return torch.cat(out).double()
