"""Helpers shared by the autoencoder tests."""

from __future__ import annotations

from pathlib import Path

from radsynth.config import build_config
from radsynth.latent.config import AutoencoderConfig

FAST = {"preset": "tiny", "cpu_threads": 1}


def tiny_config(data: Path, out: Path, **overrides) -> AutoencoderConfig:
    """The tiny preset (32 px, factor 4, 4 steps) on one CPU thread."""
    return build_config(AutoencoderConfig, {"data": data, "out": out, **FAST, **overrides})
