"""Drawing an :class:`~radsynth.data.anatomy.Anatomy` as an attenuation map, with the masks of
what was drawn (the ground truth that tests check the labels against)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radsynth.data.anatomy import AIR, BONE, CORTEX, SOFT, Anatomy, Vertebra
from radsynth.data.sdf import Grid, capsule, ellipse, polyline, rounded_box, sigmoid, vertical_tube


@dataclass(frozen=True)
class Masks:
    """Pixel masks of drawn structures, shape (S, S), in the image's own frame."""

    bodies: np.ndarray  # int16: 0 background, k = k-th vertebral body from the top (C2 = 1)
    airway: np.ndarray  # bool: inside the airway
    mandible: np.ndarray  # bool: inside the mandible
    posterior: np.ndarray  # bool: inside laminae/spinous processes (posterior elements)

    def flipped(self) -> Masks:
        """The masks mirrored left-right."""
        return Masks(
            *(m[:, ::-1].copy() for m in (self.bodies, self.airway, self.mandible, self.posterior))
        )


def _bone(grid: Grid, d: np.ndarray, rim: float, density: float = BONE) -> np.ndarray:
    """Trabecular bone inside ``d < 0`` plus a denser cortical shell ``rim`` thick."""
    outer = grid.cover(d)
    inner = grid.cover(d + rim)
    return density * outer + CORTEX * (outer - inner)


def _vertebra(grid: Grid, v: Vertebra, sign: float, ref_h: float) -> tuple[np.ndarray, ...]:
    """Attenuation, body mask and posterior-element mask of one vertebra."""
    p, q = grid.local(v.cx, v.cy, v.angle)
    p = p * sign  # sign -1 mirrors the vertebra: posterior elements in front (a defect)
    hw, hh = v.half_w, ref_h
    rim = max(0.2 * hh, 0.8 * grid.pixel)
    mu = np.zeros_like(p)
    body = np.zeros(p.shape, dtype=bool)
    pillar_c = 1.45 * hw
    if v.name == "C1":
        mu += _bone(grid, ellipse(p + 0.95 * hw, q, 0.32 * hw, 0.5 * hh), rim)  # anterior arch
        mu += 0.5 * BONE * grid.cover(ellipse(p - 0.1 * hw, q, 0.85 * hw, 0.5 * hh), soft=3)
        start, end = (0.8 * hw, 0.0), (1.0 * hw + v.spinous_len, -0.1 * hh)
        lamina = capsule(p, q, start, end, 0.32 * hh, 0.28 * hh)
        lamina = np.minimum(lamina, ellipse(p - end[0], q - end[1], 0.45 * hh, 0.5 * hh))
    else:
        d = rounded_box(p, q, hw, v.half_h, 0.35 * hh)
        mu += _bone(grid, d, rim)
        body = d < 0
        if v.name == "C2":  # the dens rises behind the anterior arch of C1
            top = (-0.1 * hw, -v.half_h - 1.15 * hh)
            mu += _bone(grid, capsule(p, q, (-0.05 * hw, -v.half_h), top, 0.38 * hw, 0.3 * hw), rim)
        # Articular pillar: a parallelogram whose facets slope down and back.
        shear = q - 0.5 * (p - pillar_c)
        mu += _bone(
            grid,
            rounded_box(p - pillar_c, shear, 0.4 * hw, v.half_h + 0.2 * hh, 0.3 * hh),
            rim,
            0.7 * BONE,
        )
        mu += (
            0.6
            * BONE
            * grid.cover(capsule(p, q, (0.8 * hw, 0.0), (pillar_c, 0.0), 0.3 * hh, 0.3 * hh))
        )
        start = (pillar_c + 0.2 * hw, 0.3 * hh)
        end = (start[0] + v.spinous_len, start[1] + v.spinous_len * v.spinous_drop)
        lamina = capsule(p, q, start, end, 0.38 * hh, 0.24 * hh)
        lamina = np.minimum(lamina, ellipse(p - end[0], q - end[1], 0.35 * hh, 0.3 * hh))
    mu += _bone(grid, lamina, rim, 0.9 * BONE)
    return mu, body, lamina < 0


def _soft_tissue(grid: Grid, a: Anatomy) -> np.ndarray:
    """Neck, head and shoulder soft tissue; thickest at the spine, fading at the skin."""
    front = np.interp(grid.y, a.neck_front[:, 1], a.neck_front[:, 0])
    chin_y = a.mandible[3, 1] + 0.03
    front = np.where(grid.y < chin_y, -1.0, front)  # above the chin the face fills the front
    front_edge = sigmoid((grid.x - front) / 0.012)
    neck = front_edge * sigmoid((a.back_x - grid.x) / 0.015)
    cx, cy, rx, ry = a.skull
    head = grid.cover(ellipse(grid.x - cx + 0.15, grid.y - cy, rx + 0.25, ry + 0.22), soft=8)
    spine_x = np.mean([v.cx for v in a.vertebrae])
    thickness = 0.75 + 0.25 * np.exp(-(((grid.x - spine_x) / 0.35) ** 2))
    tissue = SOFT * np.maximum(neck, head) * thickness
    shoulder = sigmoid((grid.y - a.shoulder_y - 0.6 * (grid.x - spine_x - 0.05) ** 2) / 0.025)
    return tissue + 0.8 * SOFT * shoulder * np.maximum(front_edge, 0.3)


def _head_bones(grid: Grid, a: Anatomy, rim: float) -> tuple[np.ndarray, np.ndarray]:
    """Skull vault and base, mastoid, palate and mandible; returns (mu, mandible mask)."""
    cx, cy, rx, ry = a.skull
    shell = ellipse(grid.x - cx, grid.y - cy, rx, ry)
    # The vault is a cortical shell (inner and outer tables) around soft brain tissue.
    mu = 0.95 * grid.cover(shell, soft=2) - 0.8 * grid.cover(shell + 0.045, soft=8)
    c1 = a.vertebrae[0]
    mu += 0.8 * grid.cover(
        ellipse(grid.x - c1.cx - 0.07, grid.y - c1.cy + 0.045, 0.035, 0.05), soft=3
    )
    # Clivus: the skull base slopes up and forward from the basion above the dens.
    basion = (c1.cx - 0.01, c1.cy - 0.075)
    clivus = capsule(grid.x, grid.y, basion, (c1.cx - 0.13, c1.cy - 0.24), 0.014, 0.026)
    mu += _bone(grid, clivus, rim, 0.8 * BONE)
    palate_y = a.mandible[0, 1] + 0.02
    mu += _bone(
        grid,
        capsule(
            grid.x, grid.y, (c1.cx - 0.19, palate_y), (c1.cx - 0.55, palate_y - 0.02), 0.01, 0.016
        ),
        rim,
    )
    d = polyline(grid.x, grid.y, a.mandible, np.array([0.6, 0.85, 1.0, 1.1]) * a.mandible_r)
    mu += _bone(grid, d, max(rim, 0.35 * a.mandible_r), 0.6 * BONE)
    # Maxilla and teeth: a dense, soft-edged mass in front of the upper airway.
    mx, my = a.mandible[3, 0] + 0.12, a.mandible[0, 1] + 0.1
    mu += 0.4 * grid.cover(ellipse(grid.x - mx, grid.y - my, 0.17, 0.07), soft=14)
    hx, hy = a.hyoid
    mu += _bone(grid, ellipse(grid.x - hx, grid.y - hy, 0.028, 0.01), rim, 0.8 * BONE)
    return mu, d < 0


def draw_anatomy(a: Anatomy, size_px: int) -> tuple[np.ndarray, Masks]:
    """Attenuation map mu, float32 (S, S) >= 0, and the masks of one phantom (left-facing)."""
    grid = Grid.square(size_px)
    mu = _soft_tissue(grid, a)
    ref_h = next(v.half_h for v in a.vertebrae if v.name not in ("C1", "C2"))
    bodies = np.zeros((size_px, size_px), dtype=np.int16)
    posterior = np.zeros((size_px, size_px), dtype=bool)
    for v in a.vertebrae:
        # Each vertebra is drawn on the square window that can hold it, for speed.
        reach = 2.0 * v.half_w + v.spinous_len + 3.0 * ref_h
        sub, sl = grid.window(v.cx, v.cy, reach)
        v_mu, body, post = _vertebra(sub, v, -1.0 if a.swapped else 1.0, ref_h)
        mu[sl] += v_mu
        posterior[sl] |= post
        if body.any():
            bodies[sl][body & (bodies[sl] == 0)] = bodies.max() + 1
    airway_d = vertical_tube(grid.x, grid.y, a.airway, a.airway_r)
    mu += AIR * grid.cover(airway_d, soft=1.5) * np.clip(mu, 0.0, 1.0)
    clav_y = a.shoulder_y + 0.07
    c7 = a.vertebrae[-1]
    clav = capsule(
        grid.x, grid.y, (c7.cx - 0.4, clav_y + 0.03), (c7.cx - 0.02, clav_y - 0.02), 0.022, 0.014
    )
    mu += _bone(grid, clav, max(0.006, 0.8 * grid.pixel), 0.7 * BONE)
    head_mu, mandible = _head_bones(grid, a, max(0.2 * ref_h, 0.8 * grid.pixel))
    mu += head_mu
    masks = Masks(bodies=bodies, airway=airway_d < 0, mandible=mandible, posterior=posterior)
    return np.clip(mu, 0.0, None).astype(np.float32), masks
