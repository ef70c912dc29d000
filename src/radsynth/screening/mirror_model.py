"""``radsynth mirror-model``: train the frontal laterality network on standard frontal films.

The folder's films must all be in standard display (heart on the image right) and positive;
that convention is the only label (:mod:`radsynth.screening.laterality`). Each step draws a
batch, mirrors a random half of it (the label), gives each film the artefacts real films carry
(:mod:`radsynth.films.augment`: letterbox frames, burned-in text, side markers, tubes and wires,
crops, collimation, portable-AP geometry), each with probability ``--artefacts``, *after* the
mirror, so they carry no left-right cue and the network learns to look past them, augments
every film with the spread expected between hospitals and minimises the binary cross-entropy of
the antisymmetric logit. A seeded tenth of the films is held out (given artefacts too); the
temperature is fitted on their test-time-averaged logits, each film shown as stored and
mirrored.

``--members`` networks (default 3) are trained with seeds ``seed, seed + 1, ...`` on the same
films and saved as one ensemble. Outputs: ``OUT/mirror_model.safetensors`` (for ``orient
--mirror-model``), ``OUT/history.csv`` (loss per member and epoch), ``config.json`` and
``manifest.json`` (held-out accuracy of the ensemble, each member's temperature).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.config import arg
from radsynth.data.imageio import list_images, read_gray
from radsynth.errors import RadsynthError
from radsynth.films.augment import augment as add_artefacts
from radsynth.films.selfsup import fit_temperature
from radsynth.records._csv import write_csv
from radsynth.screening.laterality import (
    FITS,
    LateralityNet,
    MirrorModel,
    NetShape,
    base_films,
    mirrored_logits,
    save_model,
    standardise,
    view,
)
from radsynth.stage import StageResult, prepare_output_dir, write_manifest

log = logging.getLogger(__name__)

#: Fewer films than this cannot train the network and hold out a calibration tenth.
MIN_FILMS = 40


@dataclass(frozen=True)
class MirrorModelConfig:
    """Train a frontal mirror detector on a folder of standard frontal films."""

    src: Path = arg(help="folder of standard frontal films (PNG, any depth below)", positional=True)
    out: Path = arg(help="output folder", positional=True)
    epochs: int = arg(16, help="passes over the training films")
    batch: int = arg(64, help="films per optimisation step")
    lr: float = arg(3e-3, help="peak learning rate of the one-cycle schedule")
    width: int = arg(16, help="channels of the network's first block")
    px: int = arg(64, help="network input side (px), a multiple of 16")
    members: int = arg(3, help="networks in the ensemble; member i trains with seed + i")
    seed: int = arg(0, help="seed of the hold-out split, initialisation, batches and augmentation")
    trained_on: str = arg("", help="provenance recorded in the weights (source, licence)")
    artefacts: float = arg(
        0.3,
        help="probability of each real-film artefact (radsynth.films.augment) per film and step, "
        "added after the mirror; 0 = none",
    )
    processing: bool = arg(
        False,
        help="also give the films the vendor-processing artefact (radsynth.films.augment."
        "processing), which the shipped weights were trained without",
    )
    fit: Literal["trim-stretch", "pad"] = arg(
        "trim-stretch",
        help="how films are made square: trim-stretch (uniform edge bands dropped, then "
        "stretched) or pad (aspect kept inside black bars)",
    )


@dataclass(frozen=True)
class Augment:
    """Ranges of the training augmentation (the spread between sources)."""

    zoom: tuple[float, float] = (0.6, 1.4)  # patient size and collimation
    rotation_rad: float = 0.3  # +- patient tilt
    shift: float = 0.15  # +- position, as a fraction of the half-width
    aspect: float = 0.15  # +- log aspect ratio (habitus, detector format)
    log_gamma: float = 0.5  # +- log gamma (exposure, processing)
    noise_sd: float = 0.03  # at most this Gaussian noise, in [0, 1] intensity


def augment(x: torch.Tensor, g: torch.Generator, px: int, a: Augment = Augment()) -> torch.Tensor:
    """Random similarity-plus-aspect views of ``x`` (B, 1, H, W), then gamma and noise;
    returns standardised (B, 1, px, px). A mirror-symmetric distribution of transforms, so the
    augmentation itself carries no left-right cue."""
    n = len(x)

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.empty(n, *shape).uniform_(lo, hi, generator=g)

    scale = torch.exp(uniform(math.log(a.zoom[0]), math.log(a.zoom[1])))
    rot, asp = uniform(-a.rotation_rad, a.rotation_rad), torch.exp(uniform(-a.aspect, a.aspect))
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(rot) / scale * asp, -torch.sin(rot) / scale
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(rot) / scale, torch.cos(rot) / scale / asp
    theta[:, 0, 2], theta[:, 1, 2] = uniform(-a.shift, a.shift), uniform(-a.shift, a.shift)
    y = view(x, theta, px).clamp(0, 1) ** torch.exp(uniform(-a.log_gamma, a.log_gamma, 1, 1, 1))
    noise = a.noise_sd * uniform(0, 1, 1, 1, 1) * torch.randn(y.shape, generator=g)
    return standardise(y + noise)


def with_artefacts(
    xb: torch.Tensor, rng: np.random.Generator, p: float, fit: str, processing: bool = False
) -> torch.Tensor:
    """Each film of ``xb`` (B, 1, BASE_PX, BASE_PX) given :func:`radsynth.films.augment.augment`'s
    artefacts (each with probability ``p``; vendor processing among them when ``processing``)
    and made square again as ``fit`` says, as a film that arrived with them would be."""
    films = [add_artefacts(f, rng, p, processing) for f in xb[:, 0].numpy()]
    return base_films(films, fit)


def train_net(films: torch.Tensor, cfg: MirrorModelConfig) -> tuple[LateralityNet, list[float]]:
    """Train a :class:`LateralityNet` on ``films`` (N, 1, BASE_PX, BASE_PX), all standard, made
    square as ``cfg.fit`` says.

    Returns:
        The network (eval mode) and the mean loss of each epoch.
    """
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = LateralityNet(NetShape(cfg.width, cfg.px))
    opt = torch.optim.AdamW(net.parameters(), cfg.lr, weight_decay=1e-3)
    steps_per_epoch = max(1, len(films) // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch
    )
    losses = []
    for epoch in range(cfg.epochs):
        net.train()
        order, total = torch.randperm(len(films), generator=g), 0.0
        for i in range(steps_per_epoch):
            xb = films[order[i * cfg.batch : (i + 1) * cfg.batch]]
            # Mirror a random half: the label.
            y = torch.rand(len(xb), generator=g) < 0.5
            xb = torch.where(y[:, None, None, None], xb.flip(-1), xb)
            if cfg.artefacts > 0:
                xb = with_artefacts(xb, rng, cfg.artefacts, cfg.fit, cfg.processing)
            loss = F.binary_cross_entropy_with_logits(net(augment(xb, g, cfg.px)), y.float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        losses.append(total / steps_per_epoch)
        log.info("mirror-model epoch %d/%d: loss %.4f", epoch + 1, cfg.epochs, losses[-1])
    return net.eval(), losses


def calibrate(
    net: LateralityNet, held_out: list[np.ndarray], fit: str = "pad"
) -> tuple[float, float]:
    """Temperature (Guo et al. 2017) and accuracy of one network on held-out standard films,
    each shown as stored (label 0) and mirrored (label 1)."""
    z = mirrored_logits([net], held_out, fit=fit)[0]
    logit = np.concatenate([z, -z])  # antisymmetric: the mirrored copy's logit is -z
    y = np.concatenate([np.zeros(len(z), int), np.ones(len(z), int)])
    two_class = np.stack([np.zeros_like(logit), logit], 1)
    return fit_temperature(two_class, y), float(((logit > 0) == (y == 1)).mean())


def mirror_model(cfg: MirrorModelConfig) -> StageResult:
    """Train, calibrate and save a mirror model (module docstring)."""
    paths = list_images(cfg.src, (".png",)) if cfg.src.is_dir() else []
    if len(paths) < MIN_FILMS:
        raise RadsynthError(
            f"{cfg.src}: {len(paths)} PNG films; the mirror model needs at least {MIN_FILMS}"
        )
    if cfg.px % 16 or cfg.px < 16 or min(cfg.epochs, cfg.members) < 1 or cfg.batch < 2:
        raise RadsynthError(
            "--px must be a positive multiple of 16, --epochs and --members >= 1, --batch >= 2"
        )
    if not 0.0 <= cfg.artefacts <= 1.0 or cfg.fit not in FITS:
        raise RadsynthError(f"--artefacts must be in [0, 1] and --fit one of {', '.join(FITS)}")
    if cfg.processing and cfg.artefacts == 0:
        raise RadsynthError("--processing is one of the artefacts: give --artefacts P > 0 too")
    images = [read_gray(p) for p in paths]  # an unreadable film is refused before any output
    prepare_output_dir(cfg.out, "mirror-model", cfg)
    fit = fit_model(images, cfg)
    save_model(fit.model, cfg.out / "mirror_model.safetensors")
    _write_history(cfg.out / "history.csv", fit.history)
    extra = {
        "held_out_films": fit.n_held_out,
        "held_out_accuracy": fit.accuracy,
        "temperatures": list(fit.model.temperatures),
        "training_films": len(paths) - fit.n_held_out,
    }
    write_manifest(cfg.out, "mirror-model", cfg, inputs=[cfg.src], seeds=cfg.seed, extra=extra)
    temps = ", ".join(f"{t:.2f}" for t in fit.model.temperatures)
    msg = (
        f"mirror model: {cfg.members} networks, {len(paths) - fit.n_held_out} films, "
        f"{cfg.epochs} epochs, held-out accuracy {fit.accuracy:.3f} on {fit.n_held_out} films "
        f"(x2, as stored and mirrored), temperatures {temps}"
    )
    return StageResult(cfg.out, msg)


@dataclass(frozen=True)
class Fit:
    """What :func:`fit_model` returns."""

    model: MirrorModel
    accuracy: float  # the ensemble's, on the held-out films
    n_held_out: int
    history: list[tuple[int, int, float]]  # (member, epoch, mean loss)


def fit_model(images: list[np.ndarray], cfg: MirrorModelConfig) -> Fit:
    """Hold out a seeded tenth of ``images`` (standard frontal films, at least 10), train
    ``cfg.members`` networks on the rest and calibrate each on the held-out films."""
    held = np.random.default_rng(cfg.seed).permutation(len(images)) < max(10, len(images) // 10)
    train = base_films([im for im, h in zip(images, held, strict=True) if not h], cfg.fit)
    held_out = [im for im, h in zip(images, held, strict=True) if h]
    if cfg.artefacts > 0:  # calibrated on films as varied as the training films
        rng = np.random.default_rng(cfg.seed + 10_000)
        held_out = [add_artefacts(im, rng, cfg.artefacts, cfg.processing) for im in held_out]
    batch = min(cfg.batch, len(train))
    nets, temps, history = [], [], []
    for i in range(cfg.members):
        net, losses = train_net(train, replace(cfg, seed=cfg.seed + i, batch=batch))
        nets.append(net)
        temps.append(calibrate(net, held_out, cfg.fit)[0])
        history += [(i, epoch + 1, loss) for epoch, loss in enumerate(losses)]
    model = MirrorModel(tuple(nets), tuple(temps), cfg.trained_on or str(cfg.src), cfg.fit)
    return Fit(model, held_out_accuracy(model, held_out), int(held.sum()), history)


def held_out_accuracy(model: MirrorModel, held_out: list[np.ndarray]) -> float:
    """Share of held-out standard films called standard; by antisymmetry their mirror images
    are then called mirrored, so this is also the accuracy on both."""
    return float((model.logit(held_out) < 0).mean())


def _write_history(path: Path, history: list[tuple[int, int, float]]) -> None:
    rows = ({"member": m, "epoch": e, "loss": f"{loss:.6f}"} for m, e, loss in history)
    write_csv(path, ("member", "epoch", "loss"), rows)
