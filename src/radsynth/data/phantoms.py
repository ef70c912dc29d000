"""``radsynth phantoms OUT``: procedural lateral cervical-spine radiograph phantoms with labels.

Image i depends on (seed, i) only. Its anatomy (:mod:`radsynth.data.anatomy`) is drawn as an
attenuation map mu, exposed as a film would be (Beer-Lambert: I = 1 - exp(-k mu), then a
characteristic-curve gamma and base fog), blurred (focal spot and screen unsharpness) and given
film noise. Labels per image, the ground truth for the orient and screen stages:

- ``facing``: ``left`` when the face (airway, mandible) is toward the image left;
- ``polarity``: ``negative`` images are inverted (bone dark);
- ``plausible`` / ``defect``: a set fraction is deliberately implausible, with one of the defects
  the study excluded by hand (airway posterior to the spine, anterior and posterior elements
  swapped, a missing or a duplicated vertebra).

Output: OUT/images/000000.png.., OUT/manifest.csv, OUT/contact_sheet.png, config/manifest JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from radsynth.config import arg
from radsynth.data.anatomy import DEFECTS, sample_anatomy
from radsynth.data.drawing import Masks, draw_anatomy
from radsynth.data.imageio import write_png
from radsynth.errors import RadsynthError
from radsynth.progress import bar
from radsynth.records._csv import write_csv
from radsynth.stage import StageResult, prepare_output_dir, write_manifest

log = logging.getLogger(__name__)

#: Weyl-sequence step (the golden ratio conjugate): image i is implausible when
#: frac(offset + i * GOLDEN) < implausible_fraction, so any prefix of the set holds the fraction
#: to within one image, while image i still depends on (seed, i) only.
GOLDEN = 0.6180339887498949

#: Manifest columns, in order.
COLUMNS = (
    "image",
    "facing",
    "polarity",
    "plausible",
    "defect",
    "n_vertebrae",
    "n_bodies",
    "spine_x",
    "airway_x",
    "mandible_x",
    "exposure",
    "gamma",
    "blur_px",
    "noise_std",
)


@dataclass(frozen=True)
class PhantomConfig:
    """Draw procedural lateral C-spine radiograph phantoms with facing/polarity/defect labels."""

    out: Path = arg(help="new output folder, refused if not empty", positional=True)
    n: int = arg(64, help="number of phantoms")
    size_px: int = arg(64, help="image size in pixels, 64..256")
    seed: int = arg(0, help="seed; image i depends on (seed, i) only")
    implausible_fraction: float = arg(0.1, help="fraction with a deliberate anatomical defect")
    negative_fraction: float = arg(0.1, help="probability that an image is negative (inverted)")
    right_facing_fraction: float = arg(0.5, help="probability that an image faces right")
    contact_sheet_n: int = arg(64, help="images on the contact sheet (0: none)")


@dataclass(frozen=True)
class Phantom:
    """One rendered phantom with its labels and the masks of what was drawn."""

    image: np.ndarray  # float32 (S, S) in [0, 1], as written
    labels: dict  # one manifest row without the image path
    masks: Masks  # in the image's frame (mirrored for right-facing)


def _labels_rng(cfg: PhantomConfig, index: int) -> tuple[str, str, str, np.random.Generator]:
    rng = np.random.default_rng([cfg.seed, index, 0])
    offset = np.random.default_rng([cfg.seed, 0xC5]).random()
    implausible = (offset + index * GOLDEN) % 1.0 < cfg.implausible_fraction
    defect = DEFECTS[1 + int(rng.integers(len(DEFECTS) - 1))] if implausible else "none"
    facing = "right" if rng.random() < cfg.right_facing_fraction else "left"
    polarity = "negative" if rng.random() < cfg.negative_fraction else "positive"
    return defect, facing, polarity, np.random.default_rng([cfg.seed, index, 1])


def expose(mu: np.ndarray, rng: np.random.Generator, size_px: int) -> tuple[np.ndarray, dict]:
    """Film response, blur and noise: float32 (S, S) in [0, 1] from an attenuation map."""
    # Tissue density varies smoothly across the field.
    scale = size_px / 64
    field = ndimage.gaussian_filter(rng.standard_normal(mu.shape), 6.0 * scale)
    mu = mu * (1.0 + 0.05 * field / (field.std() + 1e-8))
    k = rng.uniform(0.55, 0.8)  # exposure: attenuation per unit of mu
    gamma = rng.uniform(0.85, 1.3)  # characteristic-curve contrast
    fog = rng.uniform(0.02, 0.08)  # base + fog density
    film = (1.0 - np.exp(-k * mu)) / (1.0 - np.exp(-k * 3.2))
    img = fog + (0.97 - fog) * np.clip(film, 0.0, 1.0) ** gamma
    heel = rng.uniform(-0.08, 0.08)  # anode heel effect: a gentle gradient along the tube axis
    img *= 1.0 + heel * (np.linspace(-0.5, 0.5, size_px, dtype=np.float32)[:, None])
    blur_px = rng.uniform(0.35, 0.75) * scale**0.75  # screen blur grows slower than size
    img = ndimage.gaussian_filter(img, blur_px, mode="nearest")
    noise_std = rng.uniform(0.006, 0.02)
    grain = rng.standard_normal(img.shape).astype(np.float32)
    mottle = ndimage.gaussian_filter(rng.standard_normal(img.shape), 2.0 * scale) * 4.0 * scale
    img = img + noise_std * grain + 0.5 * noise_std * mottle
    params = {"exposure": k, "gamma": gamma, "blur_px": blur_px, "noise_std": noise_std}
    return np.clip(img, 0.0, 1.0).astype(np.float32), params


def render_phantom(cfg: PhantomConfig, index: int) -> Phantom:
    """Draw phantom ``index`` of the set defined by ``cfg`` (depends on seed and index only)."""
    defect, facing, polarity, rng = _labels_rng(cfg, index)
    anatomy = sample_anatomy(rng, defect)
    mu, masks = draw_anatomy(anatomy, cfg.size_px)
    img, params = expose(mu, rng, cfg.size_px)
    spine_x = float(np.mean([v.cx for v in anatomy.vertebrae]))
    rows = (anatomy.airway[:, 1] > 0.3) & (anatomy.airway[:, 1] < 0.8)
    airway_x = float(anatomy.airway[rows, 0].mean())
    mandible_x = float(anatomy.mandible[:, 0].mean())
    if polarity == "negative":
        img = 1.0 - img
    if facing == "right":
        img, masks = img[:, ::-1].copy(), masks.flipped()
        spine_x, airway_x, mandible_x = 1 - spine_x, 1 - airway_x, 1 - mandible_x
    labels = {
        "facing": facing,
        "polarity": polarity,
        "plausible": int(defect == "none"),
        "defect": defect,
        "n_vertebrae": len(anatomy.vertebrae),
        "n_bodies": anatomy.n_bodies,
        "spine_x": spine_x,
        "airway_x": airway_x,
        "mandible_x": mandible_x,
        **params,
    }
    labels = {k: round(v, 5) if isinstance(v, float) else v for k, v in labels.items()}
    return Phantom(image=img, labels=labels, masks=masks)


def contact_sheet(images: list[np.ndarray], columns: int = 8, gap_px: int = 2) -> np.ndarray:
    """Tile equal-size images into one grid image (white gaps), float32 in [0, 1]."""
    s = images[0].shape[0]
    rows = -(-len(images) // columns)
    sheet = np.ones((rows * (s + gap_px) - gap_px, columns * (s + gap_px) - gap_px), np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * (s + gap_px) : r * (s + gap_px) + s, c * (s + gap_px) : c * (s + gap_px) + s] = (
            img
        )
    return sheet


def _check(cfg: PhantomConfig) -> None:
    if not 64 <= cfg.size_px <= 256:
        raise RadsynthError(f"--size-px must be in 64..256, got {cfg.size_px}")
    if cfg.n < 1:
        raise RadsynthError(f"--n must be at least 1, got {cfg.n}")
    for name in ("implausible_fraction", "negative_fraction", "right_facing_fraction"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise RadsynthError(f"--{name.replace('_', '-')} must be in [0, 1]")


def make_phantoms(cfg: PhantomConfig) -> StageResult:
    """Run the phantoms stage: write images, manifest.csv and a contact sheet into cfg.out."""
    _check(cfg)
    prepare_output_dir(cfg.out, "phantoms", cfg)
    rows: list[dict[str, object]] = []
    sheet: list[np.ndarray] = []
    counts = {"negative": 0, "right": 0, "implausible": 0}
    for i in bar(range(cfg.n), desc="phantoms"):
        ph = render_phantom(cfg, i)
        name = f"images/{i:06d}.png"
        write_png(cfg.out / name, ph.image)
        rows.append({"image": name, **ph.labels})
        counts["negative"] += ph.labels["polarity"] == "negative"
        counts["right"] += ph.labels["facing"] == "right"
        counts["implausible"] += 1 - ph.labels["plausible"]
        if i < cfg.contact_sheet_n:
            sheet.append(ph.image)
    write_csv(cfg.out / "manifest.csv", COLUMNS, rows)
    if sheet:
        write_png(cfg.out / "contact_sheet.png", contact_sheet(sheet))
    write_manifest(cfg.out, "phantoms", cfg, seeds={"seed": cfg.seed, "n": cfg.n}, extra=counts)
    return StageResult(
        cfg.out,
        f"drew {cfg.n} phantoms at {cfg.size_px} px ({counts['implausible']} implausible, "
        f"{counts['negative']} negative, {counts['right']} right-facing) into {cfg.out}",
    )
