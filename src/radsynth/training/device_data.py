"""Training batches drawn where the network runs: the images kept on the device as uint8.

The host path gathers each batch on the CPU and copies it (``data.train[idx].to(device)``);
from pageable memory CUDA stages that copy through a pinned buffer and may synchronise with the
stream first (CUDA runtime API, "API synchronization behavior"), once per step. Kept on
the device, the whole training set costs N x H x W bytes (3,306 films at 256 px: 217 MB), a
batch is one gather, and the data order's permutation crosses the bus once per epoch.

The batches are the same numbers as the host path's: an 8-bit film's value k in [0, 1] is held
as float16(k / 255) on the host, and on the device as the code k and a 256-entry table of those
same float16 values (each mapped to [-1, 1]), so the training trajectory does not change with
``--data-on-device``. Films that are not 8-bit (a 16-bit source) stay float16 on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from radsynth.training.data import DataOrder

#: Images checked and converted at a time (256 films at 256 px: 134 MB of int64 codes).
CHUNK = 256


def uint8_table() -> torch.Tensor:
    """(256,) float32: code k -> float16(k / 255) * 2 - 1, the host path's value of k."""
    return (torch.arange(256, dtype=torch.float32) / 255).half().float() * 2 - 1


@dataclass(frozen=True)
class DeviceImages:
    """A training set on the device: uint8 codes and their table, or float16 images."""

    images: torch.Tensor  # (N, 1, H, W) uint8 codes, or float16 in [0, 1]
    table: torch.Tensor | None  # (256,) float32 values of the codes in [-1, 1]; None: float16

    @classmethod
    def from_host(cls, images: torch.Tensor, device: torch.device) -> DeviceImages:
        """Move float16 images in [0, 1] (N, 1, H, W) to ``device``: as uint8 codes when every
        value is exactly an 8-bit level (checked), else as float16."""
        codes = torch.empty(images.shape, dtype=torch.uint8)
        levels = (torch.arange(256, dtype=torch.float32) / 255).half()  # the host's values
        for start in range(0, len(images), CHUNK):  # chunks bound the host memory used
            part = images[start : start + CHUNK]
            codes[start : start + CHUNK] = torch.round(part.float() * 255).clamp_(0, 255)
            if not torch.equal(levels[codes[start : start + CHUNK].long()], part):
                return cls(images.to(device), None)
        return cls(codes.to(device), uint8_table().to(device))

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Images ``idx`` (B,) (on the device) as float32 (B, 1, H, W) in [-1, 1]."""
        picked = self.images[idx]
        if self.table is None:
            return picked.float() * 2 - 1
        return self.table[picked.long()]


class DeviceOrder:
    """:class:`DataOrder`'s stream of indices, sliced on the device: each epoch's permutation
    is drawn on the host (the same permutation as the host path) and copied once."""

    def __init__(self, n: int, seed: int, device: torch.device) -> None:
        self.order, self.device = DataOrder(n, seed), device
        self._perms: dict[int, torch.Tensor] = {}  # epoch -> permutation on the device

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            perm = self.order.permutation(epoch).to(self.device)
            self._perms = {e: p for e, p in self._perms.items() if e > epoch - 2} | {epoch: perm}
        return self._perms[epoch]

    def indices(self, position: int, count: int) -> torch.Tensor:
        """Indices at stream positions ``position .. position + count - 1``, (count,) on the
        device; the same as ``DataOrder.indices``."""
        n, parts, p = self.order.n, [], position
        while p < position + count:
            epoch, start = divmod(p, n)
            take = min(n - start, position + count - p)
            parts.append(self._permutation(epoch)[start : start + take])
            p += take
        if not parts:
            return torch.empty(0, dtype=torch.long, device=self.device)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def batch(self, position: int, global_batch: int, rank: int, world: int) -> torch.Tensor:
        """This rank's share of the global batch that starts at ``position``."""
        per_rank = global_batch // world
        return self.indices(position + rank * per_rank, per_rank)


@dataclass(frozen=True)
class BatchSource:
    """Where a training loop draws its batches from: the device copy, or the host tensors."""

    order: DataOrder | DeviceOrder  # indices on the device, or on the host
    images: DeviceImages | torch.Tensor  # the device copy, or the host's float16 (N, 1, H, W)
    labels: torch.Tensor | None  # (N,) class indices, on the device with the images; or None
    device: torch.device

    def draw(self, position: int, global_batch: int, rank: int, world: int):
        """(x0 float32 (B, 1, H, W) in [-1, 1] on the device, labels (B,) or None)."""
        idx = self.order.batch(position, global_batch, rank, world)
        if isinstance(self.images, DeviceImages):
            x0 = self.images.batch(idx)
        else:
            x0 = self.images[idx].to(self.device, non_blocking=True).float() * 2 - 1
        y = None if self.labels is None else self.labels[idx].to(self.device)
        return x0, y


def batch_source(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    seed: int,
    device: torch.device,
    on_device: bool,
) -> BatchSource:
    """The batches of a training set (host float16 images (N, 1, H, W) in [0, 1]), drawn on the
    device (``on_device``) or copied from the host each step."""
    if not on_device:
        return BatchSource(DataOrder(len(images), seed), images, labels, device)
    moved = None if labels is None else labels.to(device)
    order = DeviceOrder(len(images), seed, device)
    return BatchSource(order, DeviceImages.from_host(images, device), moved, device)
