"""Shipped networks for ingest's rotation and polarity checks, symmetric by construction.

A collection model (:mod:`radsynth.films.selfsup`) learns what the folder being ingested looks
like; on a small or mixed folder it has nothing to learn from. These networks are fitted once on
standard films (the paediatric films of Kermany et al. 2018, CC BY 4.0, and drawn films; never on
the adult evaluation films) with the augmentations of :mod:`radsynth.films.augment`, and ship
with the package (``radsynth/films/weights/``).

**Rotation, equivariant.** One network ``u`` scores "this film is upright". A film stored turned
by ``k`` counter-clockwise quarter turns is upright after ``k`` clockwise ones, so

    P(stored turned by k | x) = softmax_k( u(rot90(x, -k)) / T ),   k = 0..3,

and turning the input by one quarter turn shifts the four probabilities cyclically: the rule
is exactly equivariant to the group it decides about (the construction of RotNet's classifier,
Gidaris, Singh & Komodakis, ICLR 2018, made equivariant by weight sharing over the group, Cohen &
Welling, "Group Equivariant Convolutional Networks", ICML 2016).

**Polarity, antisymmetric.** Films are standardised to zero mean and unit variance, which maps
an inverted film ``1 - x`` to ``-z``; the logit of "stored negative" is
``s(z) = h(-z) - h(z)``, so ``s(-z) = -s(z)`` exactly: a film and its inverse always get
complementary probabilities, as the laterality network does for the mirror. At ingest the
logit is averaged over the film's four quarter turns and their mirror images
(:func:`invariant_negative_logit`), so the polarity call is also exactly invariant to the turn
and to the mirror; the rotation call is made mirror-equivariant the same way
(:func:`upright_score`).

Both networks take the film stretched to a ``px`` (48) pixel square (:func:`prepare`). Each has
a temperature ``T`` fitted on held-out films (Guo et al., ICML 2017), and the rotation network
stores the statistics of its pooled features on its fitting films for the out-of-distribution
gate (:func:`feature_distance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from radsynth.errors import RadsynthError

#: The shipped weights (one safetensors file per network).
WEIGHTS = Path(__file__).parent / "weights"
SHIPPED_ROTATION = WEIGHTS / "rotation.safetensors"
SHIPPED_POLARITY = WEIGHTS / "polarity.safetensors"


@dataclass(frozen=True)
class CheckNetShape:
    """Architecture of :class:`CheckNet`; stored in the weights file."""

    width: int = 8  # channels of the first block; the next three have 2x, 4x, 4x
    px: int = 48  # input side (px); a multiple of 16


class CheckNet(nn.Module):
    """Four conv blocks (2 x [3x3 conv, batch norm, ReLU], 2x2 max pool) and a linear head on the
    flattened (4w, px/16, px/16) map (the head sees where a feature is). ``trunk`` returns the
    flattened map, ``score`` one scalar per film, shape (B,)."""

    def __init__(self, shape: CheckNetShape):
        super().__init__()
        w = shape.width
        chans = (1, w, 2 * w, 4 * w, 4 * w)
        self.shape = shape
        self.features = nn.Sequential(
            *(conv_block(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)), nn.Flatten()
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * w * (shape.px // 16) ** 2, 1))

    def score(self, z: torch.Tensor) -> torch.Tensor:  # z: (B, 1, px, px), standardised
        return self.head(self.features(z)).squeeze(1)


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv + BatchNorm + ReLU layers, then 2x2 max-pooling (also the laterality
    network's block, radsynth.screening.laterality)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def upright_score(net: CheckNet, z: torch.Tensor) -> torch.Tensor:
    """(B,) ``u(z)`` averaged over the film and its left-right mirror image.

    Whether a film is upright does not depend on which way it faces: a film stored mirrored is
    upright or turned exactly as its standard copy is. The fitting films are all in standard
    display, so a network's score alone may read a mirrored film's heart and aortic knob, on the
    "wrong" side, as a sign of a turn; averaging over the mirror (the Reynolds operator of the
    two-element group) makes the score exactly mirror-invariant, so a mirrored film gets its
    standard copy's call with the turn reflected (P(k | mirror(x)) = P(-k | x))."""
    return 0.5 * (net.score(z) + net.score(z.flip(-1)))


def rotation_logits(net: CheckNet, z: torch.Tensor) -> torch.Tensor:
    """(B, 4) logits of "stored turned by k quarter turns counter-clockwise": equivariant to
    quarter turns and, with :func:`upright_score`, to the left-right mirror."""
    return torch.stack([upright_score(net, torch.rot90(z, -k, dims=(-2, -1))) for k in range(4)], 1)


def negative_logit(net: CheckNet, z: torch.Tensor) -> torch.Tensor:
    """(B,) antisymmetric logit of "stored negative": ``h(-z) - h(z)``."""
    return net.score(-z) - net.score(z)


def invariant_negative_logit(net: CheckNet, z: torch.Tensor) -> torch.Tensor:
    """(B,) the antisymmetric logit averaged over the four quarter turns of each film.

    Whether a film is inverted does not depend on how it is turned, so the call is made
    invariant to quarter turns by averaging over the group (the Reynolds operator; the same
    weight sharing over the group as :func:`rotation_logits`, Cohen & Welling, ICML 2016). The
    network was fitted on films in all four turns, so each term is in its distribution; the
    average stays antisymmetric. Chosen on drawn and augmented paediatric films in their 8
    forms (docs/screening.md): fewer confident wrong calls than the logit of the film as stored.

    Since 2026-12-06 the average also runs over each turn's left-right mirror image (the eight
    forms of the dihedral group): whether a film is inverted does not depend on which way it
    faces either, and the fitting films were all in standard display.
    """
    forms = [torch.rot90(x, k, dims=(-2, -1)) for x in (z, z.flip(-1)) for k in range(4)]
    return torch.stack([negative_logit(net, x) for x in forms]).mean(0)


def prepare(images: list[np.ndarray], px: int) -> torch.Tensor:
    """(N, 1, px, px) standardised films: each float (H, W) film stretched (box filter) to a
    ``px`` square.

    Stretching, not padding: the fitting films were stored stretched to a square, and a wide
    film padded into a square would look like a tall film turned by 90 degrees (on 54 adult
    films, all landscape, padding made 5 upright films look turned). Stretching commutes with
    quarter turns and with inversion, so equivariance and antisymmetry stay exact.
    """
    out = []
    for img in images:
        pil = Image.fromarray(np.asarray(img, dtype=np.float32), mode="F")
        out.append(np.asarray(pil.resize((px, px), Image.Resampling.BOX), dtype=np.float32))
    t = torch.from_numpy(np.stack(out))[:, None] if out else torch.zeros(0, 1, px, px)
    mean = t.mean((1, 2, 3), keepdim=True)
    return (t - mean) / (t.std((1, 2, 3), keepdim=True) + 1e-6)


@dataclass(frozen=True)
class ShippedChecks:
    """The two fitted networks with their temperatures and the OOD statistics."""

    rotation: CheckNet  # the "upright" scorer u
    polarity: CheckNet  # the polarity trunk h
    rotation_temperature: float  # T of the rotation softmax
    polarity_temperature: float  # T of the polarity logit
    feature_mean: np.ndarray  # (D,) mean of the rotation trunk's features on the fitting films
    feature_std: np.ndarray  # (D,) their standard deviation
    ood_cut: float  # feature distance above which a film is out of distribution
    trained_on: str  # provenance line


@dataclass(frozen=True)
class ShippedCall:
    """What the shipped networks say about each film of a batch."""

    p_rotation: np.ndarray  # (N, 4) calibrated P(stored turned by k quarter turns ccw)
    p_negative: np.ndarray  # (N,) calibrated P(stored negative)
    ood_distance: np.ndarray  # (N,) feature distance (see feature_distance)
    # (N,) P(upright) read on the film as stored, not made positive by the polarity call: a
    # film that looks upright as it is should not be inverted *and* turned on the strength of
    # the polarity call (see radsynth.data.filmchecks.check_with_shipped).
    p_upright_as_stored: np.ndarray


@torch.no_grad()
def call_shipped(checks: ShippedChecks, images: list[np.ndarray], batch: int = 64) -> ShippedCall:
    """Run both networks on float (H, W) films in [0, 1] as stored (any polarity, any turn).

    The polarity is read turn-invariantly (:func:`invariant_negative_logit`), the rotation on
    the film made positive by the polarity network's own call (a negative film turned is still
    a turned film), and the OOD distance on the film as the
    rotation network sees it upright-or-not, averaged over the four turns (so it does not depend
    on the turn).
    """
    px = checks.rotation.shape.px
    rot, neg, dist, up = [], [], [], []

    def p_rot(x: torch.Tensor) -> torch.Tensor:
        logits = rotation_logits(checks.rotation.eval(), x) / checks.rotation_temperature
        return torch.softmax(logits, 1)

    for i in range(0, len(images), batch):
        z = prepare(images[i : i + batch], px)
        s = invariant_negative_logit(checks.polarity.eval(), z) / checks.polarity_temperature
        p_neg = torch.sigmoid(s)
        zp = torch.where((p_neg > 0.5)[:, None, None, None], -z, z)
        rot.append(p_rot(zp))
        # Read as stored: the same as above for films not inverted, so only the others again.
        inverted = p_neg > 0.5
        up.append(rot[-1][:, 0].clone())
        if inverted.any():
            up[-1][inverted] = p_rot(z[inverted])[:, 0]
        neg.append(p_neg)
        dist.append(feature_distance(checks, zp))
    if not rot:
        return ShippedCall(np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros(0))
    # No calibrated probability is exactly 0 or 1 (float saturation): at most 1 - 1e-6, so a
    # review threshold of 1.0 still sends every film to review.
    p_turn = (torch.cat(rot).double().numpy() + 1e-6) / (1.0 + 4e-6)
    p_neg = np.clip(torch.cat(neg).double().numpy(), 1e-6, 1.0 - 1e-6)
    p_up = torch.cat(up).double().numpy()
    return ShippedCall(p_turn, p_neg, np.concatenate(dist), p_up)


def pooled_features(net: CheckNet, z: torch.Tensor) -> torch.Tensor:
    """(B, D) trunk features averaged over the four quarter turns of each film (turn-invariant)."""
    return torch.stack([net.features(torch.rot90(z, k, dims=(-2, -1))) for k in range(4)]).mean(0)


def feature_distance(checks: ShippedChecks, z: torch.Tensor) -> np.ndarray:
    """(B,) root-mean-square standardised distance of the pooled trunk features from their mean on
    the fitting films: a diagonal Mahalanobis distance (Lee et al., "A Simple Unified Framework
    for Detecting Out-of-Distribution Samples", NeurIPS 2018, with a diagonal covariance).

    Read on the film as given, not made mirror-invariant: the smaller of the film's and its
    mirror image's distance (tried 2026-12-06, with the cut refitted to 1.418) let an inverted
    extremity film (pydicom's RG3) under the cut at 1.403; as given it is 1.485, over 1.473."""

    f = pooled_features(checks.rotation.eval(), z).double().numpy()
    return np.sqrt((((f - checks.feature_mean) / checks.feature_std) ** 2).mean(1))


def save_checks(path_rotation: Path, path_polarity: Path, checks: ShippedChecks) -> None:
    """Write the two networks (safetensors), with temperatures and OOD statistics as metadata."""
    from safetensors.torch import save_file

    for path, net, temp in (
        (path_rotation, checks.rotation, checks.rotation_temperature),
        (path_polarity, checks.polarity, checks.polarity_temperature),
    ):
        meta = {
            "width": str(net.shape.width),
            "px": str(net.shape.px),
            "temperature": repr(temp),
            "trained_on": checks.trained_on,
        }
        tensors = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
        if net is checks.rotation:
            tensors["ood.mean"] = torch.from_numpy(checks.feature_mean).float()
            tensors["ood.std"] = torch.from_numpy(checks.feature_std).float()
            meta["ood_cut"] = repr(checks.ood_cut)
        save_file(tensors, str(path), metadata=meta)


def _load_one(path: Path) -> tuple[CheckNet, dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise RadsynthError(f"film-check network {path} not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
        net = CheckNet(CheckNetShape(int(meta["width"]), int(meta["px"])))
        extra = {k: state.pop(k) for k in list(state) if k.startswith("ood.")}
        net.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, ValueError, OSError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise RadsynthError(f"film-check network {path} cannot be read: {msg}") from None
    return net.eval(), meta, extra


def load_checks(
    path_rotation: Path = SHIPPED_ROTATION, path_polarity: Path = SHIPPED_POLARITY
) -> ShippedChecks:
    """Load the two networks written by :func:`save_checks` (the shipped ones by default)."""
    rot, meta_r, extra = _load_one(path_rotation)
    pol, meta_p, _ = _load_one(path_polarity)
    if "ood.mean" not in extra or "ood_cut" not in meta_r:
        raise RadsynthError(f"film-check network {path_rotation} has no OOD statistics")
    return ShippedChecks(
        rotation=rot,
        polarity=pol,
        rotation_temperature=float(meta_r["temperature"]),
        polarity_temperature=float(meta_p["temperature"]),
        feature_mean=extra["ood.mean"].double().numpy(),
        feature_std=extra["ood.std"].double().numpy(),
        ood_cut=float(meta_r["ood_cut"]),
        trained_on=meta_r.get("trained_on", ""),
    )
