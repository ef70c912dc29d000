"""Geometry of a lateral cervical-spine radiograph phantom, and its attenuation map.

Everything is drawn facing left (the face, airway and mandible toward small x); the caller
mirrors the image for right-facing phantoms. Lengths are in image-width units, y points down.
The anatomy follows a textbook lateral C-spine film (e.g. Daffner, "Imaging of Vertebral Trauma",
3rd ed., ch. 2): C1 as an anterior arch, lateral mass and posterior arch; C2 with the dens; C3-C7
bodies with cortical end plates, articular pillars, laminae and spinous processes (C7 longest)
on a lordotic curve; the prevertebral soft tissue, thin at C2-C4 and wider below, in front of the
bodies; the airway in front of that; skull base, mastoid, mandible, hyoid, shoulders, clavicle.

The attenuation map mu(x, y) is a sum of shape coverages times densities (line integrals of a
piecewise-constant object, as in a Shepp-Logan-style phantom; Shepp & Logan 1974).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radsynth.data.sdf import sigmoid

#: Defect types of deliberately implausible phantoms ("none" for plausible ones).
DEFECTS = (
    "none",
    "airway_posterior",
    "elements_swapped",
    "missing_vertebra",
    "duplicated_vertebra",
)

#: Spinous process length per level, in units of the body height.
SPINOUS_LENGTH = {"C1": 0.9, "C2": 1.25, "C3": 0.95, "C4": 0.95, "C5": 1.0, "C6": 1.2, "C7": 1.6}

# Densities (attenuation per unit of full neck thickness).
SOFT, AIR, BONE, CORTEX = 1.0, -0.6, 0.5, 0.65


@dataclass(frozen=True)
class Vertebra:
    """One vertebra's placement in the left-facing frame."""

    name: str  # "C1".."C7"; a duplicated vertebra repeats its name
    cx: float  # body centre x (C1: ring centre)
    cy: float  # body centre y
    angle: float  # direction of the local posterior axis, radians from +x
    half_w: float  # half AP width of the body
    half_h: float  # half height of the body
    spinous_len: float  # length of lamina + spinous process
    spinous_drop: float  # downward slope of the spinous process (dy per unit length)


@dataclass(frozen=True)
class Anatomy:
    """All geometry of one phantom (left-facing frame)."""

    vertebrae: tuple[Vertebra, ...]
    swapped: bool  # posterior elements drawn in front of the bodies (a defect)
    airway: np.ndarray  # (N, 2) airway centre line, x, y
    airway_r: np.ndarray  # (N,) airway half-width
    neck_front: np.ndarray  # (N, 2) anterior skin line below the chin
    mandible: np.ndarray  # (4, 2) condyle, angle, body, chin
    mandible_r: float  # half thickness of the mandible
    back_x: float  # posterior skin line x
    skull: tuple[float, float, float, float]  # centre x, centre y, radius x, radius y
    shoulder_y: float  # height of the shoulder shadow at the spine
    hyoid: tuple[float, float]  # hyoid centre

    @property
    def n_bodies(self) -> int:
        """Vertebral bodies drawn (C1 has none)."""
        return sum(v.name != "C1" for v in self.vertebrae)


def _levels(defect: str, rng: np.random.Generator) -> list[str]:
    names = [f"C{i}" for i in range(1, 8)]
    if defect == "missing_vertebra":
        names.remove(f"C{rng.integers(3, 7)}")
    elif defect == "duplicated_vertebra":
        k = int(rng.integers(3, 7))
        names.insert(k, f"C{k}")
    return names


def sample_anatomy(rng: np.random.Generator, defect: str = "none") -> Anatomy:
    """Draw the random geometry of one phantom with the given defect (see :data:`DEFECTS`)."""
    x0 = rng.uniform(0.47, 0.56)  # spine line at C1
    lordosis = rng.uniform(0.02, 0.07)  # forward bow of the mid-cervical spine
    tilt = rng.uniform(-0.05, 0.05)  # head forward/back
    y_c1 = rng.uniform(0.2, 0.25)
    y_end = rng.uniform(0.9, 0.97)  # lower end plate of the last body
    disc = rng.uniform(0.2, 0.3)  # disc height / body height
    aspect = rng.uniform(1.1, 1.35)  # body AP width / height

    def spine_x(y: np.ndarray | float) -> np.ndarray:
        t = np.clip((np.asarray(y) - y_c1) / (y_end - y_c1), 0.0, 1.0)
        return x0 - lordosis * np.sin(np.pi * t) + tilt * t

    names = _levels(defect, rng)
    n_bodies = len(names) - 1
    top_c2 = y_c1 + 0.045
    body_h = (y_end - top_c2) / (1.3 + (n_bodies - 1) * (1.0 + disc))
    spin_scale = rng.uniform(0.85, 1.15)
    vertebrae, y = [], top_c2
    for name in names:
        h = 1.3 * body_h if name == "C2" else body_h
        cy = y_c1 if name == "C1" else y + h / 2
        slope = float(spine_x(cy + 1e-3) - spine_x(cy - 1e-3)) / 2e-3
        vertebrae.append(
            Vertebra(
                name=name,
                cx=float(spine_x(cy)),
                cy=float(cy),
                angle=float(np.arctan2(-slope, 1.0)),
                half_w=aspect * body_h / 2,
                half_h=h / 2,
                spinous_len=SPINOUS_LENGTH[name] * body_h * spin_scale,
                spinous_drop=0.15 + 0.08 * int(name[1]),
            )
        )
        if name != "C1":
            y += h + disc * body_h
    half_w = aspect * body_h / 2

    # Airway: prevertebral tissue thin down to C4 and wider below (Rojas et al. 2007, AJNR).
    ys = np.linspace(y_c1 - 0.13, 1.06, 24)
    y_c4 = next(v.cy for v in vertebrae if v.name in ("C4", "C5"))
    pvst = rng.uniform(0.025, 0.04) + rng.uniform(0.025, 0.045) * sigmoid((ys - y_c4) / 0.03)
    r_aw = rng.uniform(0.022, 0.032) * (1.0 + 0.25 * sigmoid((y_c1 - ys) / 0.03))
    x_front_body = spine_x(ys) - half_w
    aw_x = x_front_body - pvst - r_aw
    aw_x -= 1.3 * np.clip(y_c1 - 0.03 - ys, 0.0, None)  # nasopharynx bends forward
    neck_front = np.stack([aw_x - r_aw - rng.uniform(0.07, 0.12), ys], axis=1)
    post_extent = max(v.half_w * 1.9 + v.spinous_len for v in vertebrae)
    if defect == "airway_posterior":
        aw_x = np.minimum(spine_x(ys) + post_extent + rng.uniform(0.04, 0.07), 0.94)
    elif defect == "elements_swapped":
        aw_x = spine_x(ys) - post_extent - r_aw - 0.02

    condyle = (x0 - rng.uniform(0.13, 0.17), y_c1 - rng.uniform(0.07, 0.1))
    angle_pt = (condyle[0] - rng.uniform(0.02, 0.07), y_c1 + rng.uniform(0.12, 0.17))
    chin = (angle_pt[0] - rng.uniform(0.38, 0.48), angle_pt[1] + rng.uniform(0.03, 0.09))
    body_pt = (0.6 * angle_pt[0] + 0.4 * chin[0], 0.6 * angle_pt[1] + 0.4 * chin[1] + 0.012)
    y_hyoid = float(np.interp(angle_pt[1] + 0.08, ys, ys))
    return Anatomy(
        vertebrae=tuple(vertebrae),
        swapped=defect == "elements_swapped",
        airway=np.stack([aw_x, ys], axis=1),
        airway_r=r_aw,
        neck_front=neck_front,
        mandible=np.array([condyle, angle_pt, body_pt, chin]),
        mandible_r=rng.uniform(0.026, 0.034),
        back_x=x0 + rng.uniform(0.36, 0.55),
        skull=(x0 + rng.uniform(0.15, 0.25), y_c1 - rng.uniform(0.3, 0.34), 0.52, 0.3),
        shoulder_y=rng.uniform(0.8, 0.9),
        hyoid=(float(np.interp(y_hyoid, ys, aw_x - r_aw)) - 0.045, y_hyoid),
    )
