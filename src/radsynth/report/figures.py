"""Images for the report: PNG bytes as data URIs, sample grids, pair strips and line plots."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from radsynth.data.imageio import read_image, to_uint


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _thumb(path: Path, size_px: int) -> Image.Image:
    arr, _ = read_image(path)  # float (H, W) in [0, 1], whatever the bit depth
    img = Image.fromarray(to_uint(arr, 8))
    # Fit the longer side to the tile, enlarging small (e.g. 64 px) images too; keeps the aspect.
    scale = size_px / max(img.width, img.height)
    new_size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(new_size, Image.Resampling.LANCZOS)
    square = Image.new("L", (size_px, size_px), color=0)
    square.paste(img, ((size_px - img.width) // 2, (size_px - img.height) // 2))
    return square


def image_grid(
    paths: Sequence[Path], columns: int = 4, size_px: int = 104, gap_px: int = 4
) -> bytes:
    """A grid of grey thumbnails (row-major, in the given order) as PNG bytes."""
    rows = -(-len(paths) // columns)
    step = size_px + gap_px
    canvas = Image.new("L", (columns * step - gap_px, rows * step - gap_px), color=255)
    for k, path in enumerate(paths):
        canvas.paste(_thumb(path, size_px), ((k % columns) * step, (k // columns) * step))
    return _png(canvas)


def pair_strip(left: Path, right: Path, size_px: int = 144, gap_px: int = 6) -> bytes:
    """Two thumbnails side by side (synthetic | nearest training image)."""
    canvas = Image.new("L", (2 * size_px + gap_px, size_px), color=255)
    canvas.paste(_thumb(left, size_px), (0, 0))
    canvas.paste(_thumb(right, size_px), (size_px + gap_px, 0))
    return _png(canvas)


def line_plot(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    xlabel: str,
    ylabel: str,
    title: str,
    *,
    log_y: bool = False,
    marks: Sequence[float] = (),
) -> bytes:
    """A small line plot of named (x, y) series; ``marks`` draws vertical lines (chosen steps)."""
    fig = Figure(figsize=(7.5, 3.4))
    ax = fig.add_subplot()
    for name, (x, y) in series.items():
        keep = np.isfinite(y)
        ax.plot(x[keep], y[keep], marker="o" if keep.sum() < 40 else None, ms=3, label=name)
    for i, m in enumerate(marks):
        ax.axvline(m, color="grey", ls=":", label="chosen checkpoint" if i == 0 else None)
    if log_y:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()
