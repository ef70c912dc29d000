"""A learned laterality model for frontal films: P(stored mirrored) from a small CNN.

Why: a frontal chest film and its mirror image differ by where the heart, the aortic knob, the
gastric bubble, the higher (liver) dome and the side markers are. One hand-made cue (the heart
side) or a linear template learned on one collection does not carry across sources: on 54
adult films from another hospital they were right on 72% and 65% of films
(docs/screening.md). A small convolutional network learns all these cues at once.

**Pretext task, no labels.** The only supervision is the display convention: films of a
collection in standard display are class 0 and their mirror images class 1 (the same task as
orient's matched filter, and as RotNet's rotations; Gidaris, Singh & Komodakis, ICLR 2018).

**Antisymmetric by construction.** With ``h`` the network, the logit of "mirrored" is
``z(x) = h(x) - h(mirror(x))``, so ``z(mirror(x)) = -z(x)`` exactly: a film and its mirror image
always get complementary probabilities, and a perfectly symmetric film gets 0.5 (review).

**Across sources.** Training augments every film with the spread one expects between hospitals:
zoom 0.6-1.4, rotation +-17 degrees, shift +-15%, aspect +-15%, gamma 0.6-1.65 and noise. At
test time the logit is averaged over 9 views (3 zooms x 3 horizontal shifts). Each network's
temperature is fitted on held-out films of the training source (Guo et al., ICML 2017), and
three networks trained with different seeds are averaged (a deep ensemble): on the adult films
of another hospital single networks were right on 90.7-92.6% of films, the ensemble on 94.4%.

The weights shipped in ``radsynth/screening/weights/`` were trained on the paediatric chest
films of Kermany et al. 2018 (CC BY 4.0; see the README there); ``radsynth mirror-model`` trains
one on a user's own standard frontal films.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radsynth.data.polarity import trim_uniform_edges
from radsynth.data.resample import resample_square
from radsynth.errors import RadsynthError
from radsynth.films.checknet import conv_block

#: Films are first padded and resampled to this square (px); augmentation crops from it.
BASE_PX = 96
#: The weights trained on the paediatric films, shipped with the package.
SHIPPED = Path(__file__).parent / "weights" / "mirror_frontal.safetensors"
#: How a film is made square before the network. ``pad``: the aspect ratio kept inside black
#: bars (the weights of 2026-11-30). ``trim-stretch``: uniform edge bands (padding, letterbox
#: frames, collimation) dropped, the rest stretched to the square, as the paediatric training
#: films were stretched to 224 x 224 before radsynth saw them; a wide adult film padded into a
#: square then shows its chest as the training films do, not shrunk between two black bars.
FITS = ("pad", "trim-stretch")
#: Test-time views: (zoom, horizontal shift as a fraction of the half-width).
TTA_VIEWS = tuple((z, dx) for z in (0.85, 1.0, 1.15) for dx in (-0.06, 0.0, 0.06))


@dataclass(frozen=True)
class NetShape:
    """Architecture of :class:`LateralityNet`; stored in the weights file."""

    width: int = 16  # channels of the first block; the next three have 2x, 4x, 4x
    px: int = 64  # input side (px); a multiple of 16


class LateralityNet(nn.Module):
    """Four conv blocks (2 x [3x3 conv, batch norm, ReLU], 2x2 max pool) and a linear head on
    the flattened (4w, px/16, px/16) map, so the head sees where a feature is, not only that it
    is there. ``forward`` returns the antisymmetric logit of "mirrored", shape (B,)."""

    def __init__(self, shape: NetShape):
        super().__init__()
        w, chans = shape.width, (1, shape.width, 2 * shape.width, 4 * shape.width, 4 * shape.width)
        self.shape = shape
        self.features = nn.Sequential(
            *(conv_block(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True))
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * w * (shape.px // 16) ** 2, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 1, px, px), standardised
        return (self.head(self.features(x)) - self.head(self.features(x.flip(-1)))).squeeze(1)


def base_films(images: Sequence[np.ndarray], fit: str = "pad") -> torch.Tensor:
    """(N, 1, BASE_PX, BASE_PX) float tensor of float (H, W) films in [0, 1], made square as
    ``fit`` says (:data:`FITS`). Both are mirror-symmetric operations."""
    if fit not in FITS:
        raise RadsynthError(f"film fit must be one of {', '.join(FITS)}, got {fit!r}")
    if fit == "trim-stretch":
        images = [trim_uniform_edges(np.asarray(im, np.float32)) for im in images]
    mode = "pad" if fit == "pad" else "stretch"
    arr = np.stack([resample_square(np.asarray(im, np.float32), BASE_PX, mode) for im in images])
    return torch.from_numpy(arr.astype(np.float32))[:, None]


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Each film to zero mean and unit standard deviation (exposure and window invariance)."""
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) / (x.std((1, 2, 3), keepdim=True) + 1e-6)


def view(x: torch.Tensor, theta: torch.Tensor, px: int) -> torch.Tensor:
    """Affine views of ``x`` (N, 1, H, W): ``theta`` (N, 2, 3) in ``affine_grid``'s normalised
    coordinates (output to input), sampled at ``px`` x ``px`` with zero (black) padding."""
    grid = F.affine_grid(theta, [len(x), 1, px, px], align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def zoom_shift(n: int, zoom: float, dx: float) -> torch.Tensor:
    """(n, 2, 3) affine matrices that zoom by ``zoom`` and shift by ``dx`` (fraction)."""
    theta = torch.tensor([[1.0 / zoom, 0.0, dx], [0.0, 1.0 / zoom, 0.0]])
    return theta.expand(n, 2, 3)


@torch.no_grad()
def mirrored_logits(
    nets: Sequence[LateralityNet], images: list[np.ndarray], batch: int = 32, fit: str = "pad"
) -> np.ndarray:
    """(M, N) test-time-averaged logits of "stored mirrored" (before the temperature), one row
    per network; each batch of films is resampled and viewed once for all networks.

    Args:
        nets: trained :class:`LateralityNet` of one input size.
        images: float (H, W) frontal films in [0, 1], positive polarity.
        batch: films per forward pass (32 is fastest on CPU; the result does not depend on it).
        fit: how each film is made square (:data:`FITS`); the networks' own.
    """
    px = nets[0].shape.px
    out = []
    for i in range(0, len(images), batch):
        x = base_films(images[i : i + batch], fit)
        views = [standardise(view(x, zoom_shift(len(x), z, dx), px)) for z, dx in TTA_VIEWS]
        out.append(
            torch.stack([torch.stack([net.eval()(v) for v in views]).mean(0) for net in nets])
        )
    return torch.cat(out, 1).double().numpy() if out else np.zeros((len(nets), 0))


@dataclass(frozen=True)
class MirrorModel:
    """An ensemble of trained networks (members differ in seed only), each with its calibration
    temperature, and where they came from. The ensemble's logit is the mean of the members'
    calibrated logits (Lakshminarayanan et al., NeurIPS 2017: deep ensembles)."""

    nets: tuple[LateralityNet, ...]
    temperatures: tuple[float, ...]  # each divides its member's logit
    trained_on: str  # human-readable provenance (source, licence)
    fit: str = "pad"  # how films are made square (FITS), as in training

    def logit(self, images: list[np.ndarray]) -> np.ndarray:
        """(N,) calibrated log-odds that each film is stored mirrored."""
        z = mirrored_logits(self.nets, images, fit=self.fit) / np.array(self.temperatures)[:, None]
        return z.mean(0)

    def probability(self, images: list[np.ndarray]) -> np.ndarray:
        """(N,) calibrated P(film is stored mirrored)."""
        return 1.0 / (1.0 + np.exp(-self.logit(images)))


FORMAT = "radsynth.mirror/2"


def save_model(model: MirrorModel, path: Path) -> None:
    """Write ``model`` as one safetensors file: member ``i``'s tensors under ``m{i}.``, and the
    shape, temperatures and provenance as metadata."""
    from safetensors.torch import save_file

    shape = model.nets[0].shape
    meta = {
        "width": str(shape.width),
        "px": str(shape.px),
        "temperatures": json.dumps(list(model.temperatures)),
        "trained_on": model.trained_on,
        "format": FORMAT,
        "fit": model.fit,
    }
    state = {
        f"m{i}.{k}": v.detach().clone().contiguous()
        for i, net in enumerate(model.nets)
        for k, v in net.state_dict().items()
    }
    save_file(state, str(path), metadata=meta)


def load_model(path: Path | None = None) -> MirrorModel:
    """Read a model written by :func:`save_model`; ``None`` loads the shipped weights.

    Raises:
        RadsynthError: the file is missing, not safetensors, or not a radsynth mirror model.
    """
    from safetensors import SafetensorError, safe_open

    path = SHIPPED if path is None else Path(path)
    if not path.is_file():
        raise RadsynthError(f"mirror model {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    except (SafetensorError, OSError, ValueError) as err:
        raise RadsynthError(f"mirror model {path} is not a safetensors file ({err})") from None
    if meta.get("format") != FORMAT:
        raise RadsynthError(f"{path} is not a radsynth mirror model (no {FORMAT} tag)")
    temperatures = tuple(float(t) for t in json.loads(meta["temperatures"]))
    fit = meta.get("fit", "pad")  # files written before 2026-12-06 have no fit: padded
    if fit not in FITS:
        raise RadsynthError(f"mirror model {path}: unknown film fit {fit!r}")
    nets = []
    for i in range(len(temperatures)):
        net = LateralityNet(NetShape(int(meta["width"]), int(meta["px"])))
        own = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"m{i}.")}
        try:
            net.load_state_dict(own, strict=True)
        except RuntimeError as err:
            raise RadsynthError(f"mirror model {path}: member {i} does not fit: {err}") from None
        # Channels-last weights and batches of 32: 3.6 times the films/s of NCHW batches of 256
        # on a 2-core CPU, logits equal to 2e-6 (docs/benchmarks.md).
        nets.append(net.eval().to(memory_format=torch.channels_last))
    return MirrorModel(tuple(nets), temperatures, meta.get("trained_on", ""), fit)
