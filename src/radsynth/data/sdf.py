"""Signed distance functions on a pixel grid, for drawing phantoms with anti-aliased edges.

A shape is its signed distance d(x, y) (negative inside, in image-width units); its coverage of
a pixel is the linear ramp clip(1/2 - d / pixel, 0, 1), a one-pixel box-filter approximation of
exact area coverage (Gustavson 2012, "Anti-aliased Euclidean distance transform"; Quilez,
"2D distance functions", for the primitives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """Pixel centres of a size_px square in image-width units: x right, y down, both in [0, 1]."""

    x: np.ndarray  # (S, S) float32
    y: np.ndarray  # (S, S) float32
    pixel: float  # 1 / size_px

    @staticmethod
    def square(size_px: int) -> Grid:
        c = ((np.arange(size_px, dtype=np.float32) + 0.5) / size_px).astype(np.float32)
        y, x = np.meshgrid(c, c, indexing="ij")
        return Grid(x=x, y=y, pixel=1.0 / size_px)

    def window(self, cx: float, cy: float, radius: float) -> tuple[Grid, tuple[slice, slice]]:
        """The sub-grid within ``radius`` (a square) of (cx, cy), and its (row, col) slices."""
        size = self.x.shape[0]
        lo = lambda c: int(np.clip(np.floor((c - radius) / self.pixel), 0, size))  # noqa: E731
        hi = lambda c: int(np.clip(np.ceil((c + radius) / self.pixel), 0, size))  # noqa: E731
        sl = (slice(lo(cy), hi(cy)), slice(lo(cx), hi(cx)))
        return Grid(x=self.x[sl], y=self.y[sl], pixel=self.pixel), sl

    def local(self, cx: float, cy: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates in a frame centred at (cx, cy) whose first axis is rotated by ``angle``
        radians from +x (toward +y)."""
        dx, dy = self.x - cx, self.y - cy
        c, s = np.cos(angle), np.sin(angle)
        return dx * c + dy * s, -dx * s + dy * c

    def cover(self, d: np.ndarray, soft: float = 1.0) -> np.ndarray:
        """Pixel coverage in [0, 1] of the shape with signed distance ``d``; ``soft`` widens the
        ramp in pixels (a blurred edge)."""
        return np.clip(0.5 - d / (self.pixel * soft), 0.0, 1.0)


def rounded_box(p: np.ndarray, q: np.ndarray, half_p: float, half_q: float, r: float) -> np.ndarray:
    """Signed distance to a box of half-sizes (half_p, half_q) with corner radius r."""
    r = min(r, half_p, half_q)
    ap, aq = np.abs(p) - half_p + r, np.abs(q) - half_q + r
    outside = np.hypot(np.maximum(ap, 0.0), np.maximum(aq, 0.0))
    return outside + np.minimum(np.maximum(ap, aq), 0.0) - r


def ellipse(p: np.ndarray, q: np.ndarray, a: float, b: float) -> np.ndarray:
    """Approximate signed distance to an ellipse with semi-axes a, b (exact on the axes)."""
    return (np.hypot(p / a, q / b) - 1.0) * min(a, b)


def capsule(
    x: np.ndarray,
    y: np.ndarray,
    p0: tuple[float, float],
    p1: tuple[float, float],
    r0: float,
    r1: float,
) -> np.ndarray:
    """Signed distance to a segment p0-p1 swept by a radius that tapers from r0 to r1."""
    vx, vy = p1[0] - p0[0], p1[1] - p0[1]
    wx, wy = x - p0[0], y - p0[1]
    t = np.clip((wx * vx + wy * vy) / max(vx * vx + vy * vy, 1e-12), 0.0, 1.0)
    return np.hypot(wx - t * vx, wy - t * vy) - (r0 + (r1 - r0) * t)


def polyline(x: np.ndarray, y: np.ndarray, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Signed distance to a chain of tapered capsules through ``points`` (N, 2), radii (N,)."""
    d = np.full(x.shape, np.inf, dtype=np.float32)
    for i in range(len(points) - 1):
        seg = capsule(x, y, tuple(points[i]), tuple(points[i + 1]), radii[i], radii[i + 1])
        np.minimum(d, seg, out=d)
    return d


def vertical_tube(
    x: np.ndarray, y: np.ndarray, centre: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """Approximate signed distance to a tube around a mostly vertical centre line.

    ``centre`` is (N, 2) with increasing y; the horizontal offset from the line is scaled by
    cos(slope angle), which is exact for straight stretches. Cheaper than :func:`polyline`.
    """
    cx = np.interp(y, centre[:, 1], centre[:, 0])
    r = np.interp(y, centre[:, 1], radii)
    slope = np.interp(y, centre[:, 1], np.gradient(centre[:, 0], centre[:, 1]))
    d = (np.abs(x - cx) - r) / np.sqrt(1.0 + slope**2)
    return np.maximum(d, np.maximum(centre[0, 1] - y, y - centre[-1, 1]))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function, for smooth soft-tissue boundaries."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))
