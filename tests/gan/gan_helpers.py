"""Helpers shared by the GAN tests (a uniquely named module, never ``conftest``)."""

from __future__ import annotations

from pathlib import Path


def tiny_config(data: Path, out: Path, **overrides):
    """The tiny preset's config, as the CLI builds it, with ``overrides``."""
    from radsynth.config import build_config
    from radsynth.gan.config import GanTrainConfig

    base = {"data": data, "out": out, "preset": "tiny", "device": "cpu"}
    return build_config(GanTrainConfig, {**base, **overrides})
