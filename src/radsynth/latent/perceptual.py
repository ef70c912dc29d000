"""An optional perceptual loss over a small network radsynth defines, with the user's weights.

radsynth ships no weights and downloads none: a user who has trained :class:`PerceptualNet`
(on their own films, say as a classifier) passes its safetensors file with
``--perceptual-net``. The loss compares unit-normalised features layer by layer, as LPIPS does
(Zhang et al. 2018, eq. 1) with every channel weighted equally.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from radsynth.errors import RadsynthError

#: Feature channels of the three stride-2 stages.
PERCEPTUAL_CHANNELS = (16, 32, 64)


class PerceptualNet(torch.nn.Module):
    """Three stride-2 3x3 conv + GroupNorm + SiLU stages on (B, 1, H, W) images in [-1, 1]."""

    def __init__(self, channels: tuple[int, ...] = PERCEPTUAL_CHANNELS) -> None:
        super().__init__()
        stages, c_in = [], 1
        for c in channels:
            stages.append(
                torch.nn.Sequential(
                    torch.nn.Conv2d(c_in, c, 3, stride=2, padding=1),
                    torch.nn.GroupNorm(min(8, c), c),
                    torch.nn.SiLU(),
                )
            )
            c_in = c
        self.stages = torch.nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature map of each stage, (B, C_k, H / 2^k, W / 2^k)."""
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def load_perceptual_net(path: Path, device: torch.device) -> PerceptualNet:
    """A frozen PerceptualNet with the weights in ``path`` (strict), in eval mode.

    Raises:
        RadsynthError: a missing file, or weights that are not a PerceptualNet's (one line).
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise RadsynthError(f"perceptual network weights not found: {path}")
    net = PerceptualNet()
    try:
        net.load_state_dict(load_file(path), strict=True)
    except Exception as exc:  # safetensors and torch raise several types for a wrong file
        raise RadsynthError(
            f"{path} does not hold radsynth PerceptualNet weights: {exc}".splitlines()[0]
        ) from None
    return net.to(device).eval().requires_grad_(False)


def perceptual_loss(net: PerceptualNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over stages of the spatially averaged squared distance of channel-unit-normalised
    features (LPIPS without learned channel weights), batch-averaged; a scalar."""
    total = x.new_zeros(())
    for fx, fy in zip(net(x), net(y), strict=True):
        fx, fy = F.normalize(fx, dim=1, eps=1e-10), F.normalize(fy, dim=1, eps=1e-10)
        total = total + (fx - fy).pow(2).sum(1).mean()
    return total / len(net.stages)
